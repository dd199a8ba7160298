"""The API's progress callback: bytes done and the total, ending at the
total, also on a sparse disk whose holes are never read."""

from __future__ import annotations

import os
from typing import List, Tuple
from unittest import mock

from diskimage_vhd import convert
from diskimage_vhd.make.stream import stream
from tests import base

SIZE = 256 * base.MiB


class TestProgressCallback(base.TempDirTestCase):

    def setUp(self) -> None:
        super().setUp()
        # Data at the start only: the writers read 1 MiB of 256.
        self.raw = base.make_raw(self.path('sparse.raw'), SIZE,
                                 [(0, base.random_bytes(base.MiB))])
        self.calls: List[Tuple[int, int]] = []

    def progress(self, done: int, total: int) -> None:
        self.calls.append((done, total))

    def assert_ends_at_total(self) -> None:
        self.assertTrue(self.calls)
        self.assertEqual(self.calls[-1], (SIZE, SIZE))
        self.assertEqual({total for _, total in self.calls}, {SIZE})
        done = [d for d, _ in self.calls]
        self.assertEqual(done, sorted(done))
        self.assertEqual(done.count(SIZE), 1)  # said once, not repeated

    def test_convert_every_target(self) -> None:
        for target in ('dynamic', 'fixed', 'raw'):
            for checksums in ((), ('sha256',)):
                with self.subTest(target=target, checksums=checksums):
                    self.calls = []
                    convert(self.raw, self.path(f'out.{target}'),
                            target_format=target, progress=self.progress,
                            checksums=checksums)
                    self.assert_ends_at_total()

    def test_reproducible_convert(self) -> None:
        # The UUID follows the content: every byte is read and hashed.
        with mock.patch.dict(os.environ, SOURCE_DATE_EPOCH='1700000000'):
            convert(self.raw, self.path('out.vhd'), progress=self.progress)
        self.assert_ends_at_total()

    def test_stream(self) -> None:
        with open(self.path('out.vhd'), 'wb') as out:
            stream(self.raw, out.fileno(), progress=self.progress)
        self.assert_ends_at_total()
