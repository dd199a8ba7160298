"""Joining extents: one run for each stretch of data."""

from __future__ import annotations

import unittest

from diskimage_vhd.posix.extents import merged


class MergedTest(unittest.TestCase):

    def test_touching_and_overlapping_extents_join(self) -> None:
        self.assertEqual(list(merged([(0, 4), (4, 8), (6, 7), (7, 12),
                                      (20, 24)])),
                         [(0, 12), (20, 24)])

    def test_empty_extents_say_nothing(self) -> None:
        self.assertEqual(list(merged([])), [])
        self.assertEqual(list(merged([(5, 5)])), [])
