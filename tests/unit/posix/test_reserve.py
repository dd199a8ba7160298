"""Reserving an output's data ranges: real blocks, or nothing where the
file system cannot, and a real error raised."""

from __future__ import annotations

import errno
import os

from diskimage_vhd.posix.reserve import Reserve
from tests import base

MiB = base.MiB


class TestReserve(base.TempDirTestCase):

    def test_a_range_is_allocated_and_reads_as_zeros(self) -> None:
        path = self.path('out')
        with open(path, 'wb') as handle:
            space = Reserve(handle.fileno())
            space.reserve(MiB, 2 * MiB + 100)
            self.assertTrue(space.enabled)
        stat = os.stat(path)
        self.assertEqual(stat.st_size, 3 * MiB + 100)
        self.assertGreaterEqual(stat.st_blocks * 512, 2 * MiB + 100)
        self.assertLess(stat.st_blocks * 512, 3 * MiB)  # only the range
        with open(path, 'rb') as handle:
            self.assertEqual(handle.read(), bytes(3 * MiB + 100))

    def test_where_it_cannot_nothing_is_reserved(self) -> None:
        read, write = os.pipe()
        self.addCleanup(os.close, read)
        self.addCleanup(os.close, write)
        space = Reserve(write)
        space.reserve(0, MiB)  # ESPIPE: not an error, not asked again
        self.assertFalse(space.enabled)

    def test_an_error_a_write_would_meet_is_raised(self) -> None:
        with open(self.path('out'), 'wb') as handle:
            space = Reserve(handle.fileno())
            with self.assertRaises(OSError) as raised:
                space.reserve(0, 1 << 62)  # beyond any file system's room
            self.assertIn(raised.exception.errno, (errno.EFBIG, errno.ENOSPC))
