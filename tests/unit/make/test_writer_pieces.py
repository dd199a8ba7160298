"""The writer hands out only non-zero pieces: same bytes, same content hash.

Blocks are written piece by piece, zeros left as holes, and the content
hash behind reproducible UUIDs is fed piece by piece with zeros between; both
must stay what whole zero-filled blocks gave.
"""

from __future__ import annotations

import os
import struct
from unittest import mock
import uuid

import blake3

from diskimage_vhd import convert
from diskimage_vhd.format import constants as c
from diskimage_vhd.image.reader import VhdImage
from diskimage_vhd.image.sources import RawSource
from diskimage_vhd.make.blocks import BlockReader
from diskimage_vhd.make.blocks import Copy
from diskimage_vhd.make.blocks import Data
from diskimage_vhd.make.blocks import Zeros
from diskimage_vhd.make import identity
from diskimage_vhd.make.plan import DynamicPlan
from diskimage_vhd.make.render import render
from diskimage_vhd.make.render import Rendering
from diskimage_vhd.make.sinks import FileSink
from diskimage_vhd.make.survey import survey
from tests import base

MiB, BLOCK = base.MiB, base.BLOCK
PAGE = 4096
EPOCH = 1700000000


def _writes() -> list:
    """Data, written zeros and holes, in and across blocks, in a 24 MiB disk."""
    return [
        (0, base.random_bytes(BLOCK, 1)),                    # a full block
        (BLOCK + 4096, base.random_bytes(8192, 2)),          # small pieces
        (BLOCK + MiB, base.random_bytes(4096, 3)),
        (BLOCK + MiB + 64 * 1024,                           # a zero page
         base.random_bytes(4096, 7) + bytes(2 * PAGE)       # written in
         + base.random_bytes(4096, 8)),                     # the data
        (2 * BLOCK, bytes(BLOCK)),                           # written zeros
        (3 * BLOCK, bytes(MiB)),                             # zeros, then data
        (3 * BLOCK + MiB, base.random_bytes(MiB, 4)),
        (5 * BLOCK - 4096, base.random_bytes(8192, 5)),      # straddling
        (11 * BLOCK + 512, base.random_bytes(BLOCK - 1024, 6)),
    ]


class TestWriterPieces(base.TempDirTestCase):

    def make(self) -> str:
        return base.make_raw(self.path('in.raw'), 24 * MiB, _writes())

    def test_reproducible_uuid_hashes_nonzero_pages(self) -> None:
        """The documented digest, computed here from the raw bytes alone."""
        raw = self.make()
        with open(raw, 'rb') as handle:
            data = handle.read()
        size = len(data)
        digest = blake3.blake3(struct.pack('>Q', size))
        for index in range(size // BLOCK):
            block = data[index * BLOCK:(index + 1) * BLOCK]
            pages = [block[at:at + PAGE] for at in range(0, BLOCK, PAGE)]
            bits = ''.join('0' if page.count(0) == PAGE else '1'
                           for page in pages)
            if '1' in bits:
                digest.update(struct.pack('>I', index))
                digest.update(int(bits, 2).to_bytes(64, 'big'))
                for page, bit in zip(pages, bits):
                    if bit == '1':
                        digest.update(page)
        expected = uuid.uuid5(uuid.UUID(identity.NAMESPACE),
                              f'{digest.hexdigest()}:dynamic:{EPOCH}')
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


class MemorySource:
    """A disk in memory, implementing the Source protocol and nothing more.

    ``copy_range`` copies nothing, so every ``Copy`` piece must go through
    the reader's chunks: the writer has no other way to the bytes.
    """

    def __init__(self, data: bytes, extents: list):
        self.path = '<memory>'
        self.size = len(data)
        self._data = data
        self._extents = extents

    def data_extents(self):
        return iter(self._extents)

    def read_into(self, offset: int, view: memoryview) -> None:
        view[:] = self._data[offset:offset + len(view)]

    def copy_range(self, fd: int, offset: int, length: int,
                   out_offset: int) -> int:
        return 0

    def check_unchanged(self) -> None:
        pass

    def close(self) -> None:
        pass


class TestWriterContract(base.TempDirTestCase):
    """Typed pieces tile each block; the writer uses only the protocol."""

    def test_pieces_tile_blocks_and_are_typed(self) -> None:
        raw = base.make_raw(self.path('in.raw'), 24 * MiB, _writes())
        with open(raw, 'rb') as handle:
            data = handle.read()
        with RawSource(raw) as source:
            for need_data in (True, False):
                reader = BlockReader(source, BLOCK, need_data=need_data)
                for block in reader.data_blocks():
                    position = 0
                    expected = data[block.index * BLOCK:
                                    (block.index + 1) * BLOCK]
                    for piece in block.pieces:
                        self.assertEqual(piece.start, position)
                        position = piece.end
                        wanted = expected[piece.start:piece.end]
                        if isinstance(piece, Zeros):
                            self.assertEqual(wanted.count(0), len(wanted))
                        elif isinstance(piece, Data):
                            self.assertEqual(bytes(piece.data), wanted)
                        else:
                            self.assertIsInstance(piece, Copy)
                            self.assertFalse(need_data)
                            got = b''.join(bytes(chunk) for _, chunk in
                                           reader.chunks(block.index, piece))
                            self.assertEqual(got, wanted)
                    self.assertEqual(position, BLOCK)
                    self.assertEqual(block.is_zero, expected.count(0) == BLOCK)

    def test_any_source_of_the_protocol_converts(self) -> None:
        raw = base.make_raw(self.path('in.raw'), 24 * MiB, _writes())
        with open(raw, 'rb') as handle:
            data = handle.read()
        expected = self.path('expected.vhd')
        convert(raw, expected, timestamp=EPOCH,
                unique_id=base.FIXTURE_UUIDS['mixed.sparse.vhd'])
        stamp = identity.Stamp(EPOCH, base.FIXTURE_UUIDS['mixed.sparse.vhd'])
        source = MemorySource(data, [(0, len(data))])
        out = self.path('memory.vhd')
        with open(out, 'wb') as handle:
            plan = DynamicPlan(len(data), len(data) // BLOCK)
            rendering = Rendering(plan, survey(source, plan), source.size)
            render(rendering, FileSink(handle.fileno(), source),
                   lambda: stamp.footer(c.DISK_TYPE_DYNAMIC, len(data)))
        with open(out, 'rb') as produced, open(expected, 'rb') as wanted:
            self.assertEqual(produced.read(), wanted.read())
