"""The content digest hashed on a worker thread equals the one in line."""

from __future__ import annotations

import os

from diskimage_vhd.errors import VhdError
from diskimage_vhd.format import constants as c
from diskimage_vhd.image.sources import RawSource
from diskimage_vhd.make.blocks import BlockReader
from diskimage_vhd.make.hashing import BackgroundDigest
from diskimage_vhd.make.identity import ContentDigest
from tests import base

MiB = 1024 * 1024


class TestBackgroundDigest(base.TempDirTestCase):

    def make(self) -> str:
        """Data, a hole, written zeros, a short piece, a partial last block."""
        path = self.path('disk.raw')
        with open(path, 'wb') as f:
            f.write(base.random_bytes(3 * MiB, seed=7))
            f.seek(6 * MiB)
            f.write(bytes(2 * MiB))            # a whole block of written zeros
            f.write(bytes(4096) + b'\x01' * 100)  # non-zero past the probe
            f.seek(11 * MiB + 12345)
            f.write(base.random_bytes(777, seed=8))
        return path

    def digest_in_line(self, path: str) -> bytes:
        source = RawSource(path)
        self.addCleanup(source.close)
        digest = ContentDigest(source.size)
        reader = BlockReader(source, c.BLOCK_SIZE)
        for block in reader.data_blocks():
            digest.add(block, reader.gather(block))
        return digest.digest()

    def test_same_digest_from_pieces_left_in_the_source(self) -> None:
        path = self.make()
        source = RawSource(path)
        self.addCleanup(source.close)
        hasher = BackgroundDigest(ContentDigest(source.size), source)
        reader = BlockReader(source, c.BLOCK_SIZE, need_data=False)
        kinds = set()
        for block in reader.data_blocks():
            kinds.update(type(piece).__name__ for piece in block.pieces)
            hasher.add(block)
        self.assertEqual({'Copy', 'Data', 'Zeros'}, kinds)
        self.assertEqual(self.digest_in_line(path), hasher.finish())

    def test_error_of_the_worker_reaches_the_caller(self) -> None:
        path = self.make()
        source = RawSource(path)
        self.addCleanup(source.close)
        hasher = BackgroundDigest(ContentDigest(source.size), source)
        blocks = list(BlockReader(source, c.BLOCK_SIZE,
                                  need_data=False).data_blocks())
        os.truncate(path, MiB)  # the Copy pieces can no longer be read
        for block in blocks:
            hasher.add(block)
        with self.assertRaisesRegex(VhdError, 'changed size'):
            hasher.finish()
        hasher.close()
