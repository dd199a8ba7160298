"""The writer hands out only non-zero pieces: same bytes, same content hash.

Blocks are written piece by piece, zeros left as holes, and the content
hash behind reproducible UUIDs is fed piece by piece with zeros between; both
must stay what whole zero-filled blocks gave.
"""

from __future__ import annotations

import hashlib
import os
import struct
from unittest import mock

from diskimage_vhd import convert
from diskimage_vhd.image.reader import VhdImage
from diskimage_vhd.make import identity
from tests import base

MiB, BLOCK = base.MiB, base.BLOCK
EPOCH = 1700000000


def _writes() -> list:
    """Data, written zeros and holes, in and across blocks, in a 24 MiB disk."""
    return [
        (0, base.random_bytes(BLOCK, 1)),                    # a full block
        (BLOCK + 4096, base.random_bytes(8192, 2)),          # small pieces
        (BLOCK + MiB, base.random_bytes(4096, 3)),
        (2 * BLOCK, bytes(BLOCK)),                           # written zeros
        (3 * BLOCK, bytes(MiB)),                             # zeros, then data
        (3 * BLOCK + MiB, base.random_bytes(MiB, 4)),
        (5 * BLOCK - 4096, base.random_bytes(8192, 5)),      # straddling
        (11 * BLOCK + 512, base.random_bytes(BLOCK - 1024, 6)),
    ]


class TestWriterPieces(base.TempDirTestCase):

    def make(self) -> str:
        return base.make_raw(self.path('in.raw'), 24 * MiB, _writes())

    def test_reproducible_uuid_hashes_whole_blocks(self) -> None:
        raw = self.make()
        with open(raw, 'rb') as handle:
            data = handle.read()
        size = len(data)
        digest = hashlib.sha256(struct.pack('>QI?', size, size // BLOCK, False))
        for index in range(size // BLOCK):
            block = data[index * BLOCK:(index + 1) * BLOCK]
            if block.count(0) != len(block):
                digest.update(struct.pack('>I', index))
                digest.update(block)
        expected = identity.derived_uuid(digest.digest(), EPOCH)
        with mock.patch.dict(os.environ, {'SOURCE_DATE_EPOCH': str(EPOCH)}):
            result = convert(raw, self.path('out.vhd'))
        self.assertEqual(result.unique_id, expected)
        self.assertEqual(result.allocated_blocks, 6)

    def test_zeros_in_blocks_are_holes_that_read_as_zeros(self) -> None:
        raw = self.make()
        out = self.path('out.vhd')
        result = convert(raw, out)
        with open(raw, 'rb') as handle, VhdImage(out) as image:
            self.assertEqual(image.read(0, image.size), handle.read())
        self.assertEqual(result.allocated_blocks, 6)
        allocated = os.stat(out).st_blocks * 512
        # Six blocks allocated (12 MiB), but only about 6 MiB of them is data.
        self.assertLess(allocated, 7 * MiB)
        self.assertEqual(os.path.getsize(out), result.file_size)
