"""The layout of a dynamic VHD, from which blocks hold data: pure, no I/O.

libvhd's layout follows from the allocated blocks alone: metadata first,
then each block (a bitmap sector and 2 MiB of data) at the next sector
whose successor is 4 KiB aligned, the first sector of each gap holding a
copy of the footer, and the footer last.  A plan can be built while
writing (``add`` as each block turns out to hold data) or before (from a
measuring pass), and both give the same bytes.
"""

from __future__ import annotations

import array
import bisect
from collections.abc import Iterator
import dataclasses

from diskimage_vhd.format import bat as batlib
from diskimage_vhd.format.batmap import batmap_checksum
from diskimage_vhd.format.batmap import BatmapHeader
from diskimage_vhd.format.bitmap import set_bit
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.format.layout import DynamicLayout
from diskimage_vhd.format.layout import next_block_sector
from diskimage_vhd.format.units import blocks_for

BLOCK_BYTES = c.SECTOR_SIZE + c.BLOCK_SIZE  # bitmap and data
BAT_CHUNK = 1 << 16  # BAT entries generated at a time

# What a region of the output holds.
METADATA = 'metadata'  # footer copy, header, BAT, batmap header and batmap
FOOTER = 'footer'  # the footer: at the end, and first in each gap
ZEROS = 'zeros'
BITMAP = 'bitmap'  # a block's sector bitmap: every sector present
DATA = 'data'  # virtual disk bytes from ``origin`` on (zeros past its end)


@dataclasses.dataclass(frozen=True, slots=True)
class Region:
    """``[start, end)`` of the output file, and what goes there."""

    start: int
    end: int
    kind: str
    origin: int = 0  # for DATA: the virtual disk offset at ``start``


class DynamicPlan:
    """Where every byte of a dynamic disk goes.

    Only allocated blocks are kept (two arrays of 4 bytes an entry), so
    memory follows the data rather than the virtual size.
    """

    def __init__(self, virtual_size: int, max_table_entries: int):
        self.virtual_size = virtual_size
        self.max_table_entries = max_table_entries
        self.indexes = array.array('I')  # allocated blocks, increasing
        self.sectors = array.array('I')  # each one's bitmap sector
        self.end = self.layout.metadata_end // c.SECTOR_SIZE  # final footer

    def __repr__(self) -> str:
        return (f'DynamicPlan({self.virtual_size}, {self.max_table_entries}: '
                f'{len(self.indexes)} blocks allocated)')

    @property
    def layout(self) -> DynamicLayout:
        return DynamicLayout(self.max_table_entries)

    @property
    def blocks(self) -> int:
        """Blocks of the virtual disk (allocated or not)."""
        return blocks_for(self.virtual_size)

    @property
    def allocated_blocks(self) -> int:
        return len(self.indexes)

    @property
    def file_size(self) -> int:
        return (self.end + 1) * c.SECTOR_SIZE

    def add(self, index: int) -> int:
        """Allocate block ``index`` (above every one so far); its sector."""
        if self.indexes and index <= self.indexes[-1]:
            raise ValueError('blocks are allocated in increasing order')
        sector = next_block_sector(self.end)
        self.indexes.append(index)
        self.sectors.append(sector)
        self.end = sector + 1 + c.SECTORS_PER_BLOCK
        return sector

    def block_end(self, position: int) -> int:
        """The sector after the ``position``-th allocated block (-1: metadata)."""
        if position < 0:
            return self.layout.metadata_end // c.SECTOR_SIZE
        return self.sectors[position] + 1 + c.SECTORS_PER_BLOCK

    def locate(self, sector: int) -> int:
        """The position of the last allocated block starting at or before
        ``sector`` (-1 if none).
        """
        return bisect.bisect_right(self.sectors, sector) - 1

    # -- regions -----------------------------------------------------------

    def regions(self, offset: int = 0) -> Iterator[Region]:
        """The regions of the file in order, from the one holding ``offset``
        (or a little before it) to the end.
        """
        metadata_end = self.layout.metadata_end
        if offset < metadata_end:
            yield Region(0, metadata_end, METADATA)
            first = 0
        else:
            first = max(self.locate(offset // c.SECTOR_SIZE), 0)
        for position in range(first, len(self.sectors)):
            yield from self._gap(self.block_end(position - 1),
                                 self.sectors[position])
            start = self.sectors[position] * c.SECTOR_SIZE
            yield Region(start, start + c.SECTOR_SIZE, BITMAP)
            yield Region(start + c.SECTOR_SIZE, start + BLOCK_BYTES, DATA,
                         self.indexes[position] * c.BLOCK_SIZE)
        end = self.end * c.SECTOR_SIZE
        yield Region(end, end + c.FOOTER_SIZE, FOOTER)

    @staticmethod
    def _gap(start_sector: int, stop_sector: int) -> Iterator[Region]:
        if stop_sector == start_sector:
            return
        start, stop = start_sector * c.SECTOR_SIZE, stop_sector * c.SECTOR_SIZE
        yield Region(start, start + c.FOOTER_SIZE, FOOTER)
        if stop > start + c.FOOTER_SIZE:
            yield Region(start + c.FOOTER_SIZE, stop, ZEROS)

    # -- metadata ----------------------------------------------------------

    def bat(self, first: int, count: int) -> bytes:
        """BAT entries ``[first, first + count)``, as on disk."""
        chunk = array.array('I', [c.UNALLOCATED]) * count
        position = bisect.bisect_left(self.indexes, first)
        while position < len(self.indexes) \
                and self.indexes[position] < first + count:
            chunk[self.indexes[position] - first] = self.sectors[position]
            position += 1
        return bytes(batlib.encode(chunk))

    def batmap(self) -> bytearray:
        """Every allocated block is written whole: its bit is set."""
        batmap = bytearray(self.layout.batmap_bytes)
        for index in self.indexes:
            set_bit(batmap, index)
        return batmap

    def metadata(self, footer: Footer) -> Iterator[tuple[int, bytes]]:
        """``(offset, bytes)`` from 0 to the metadata's end, in order:
        footer copy, header, BAT (a chunk at a time), batmap header, batmap.
        """
        layout = self.layout
        header = DynamicHeader.for_xenserver(self.max_table_entries)
        yield 0, footer.pack() + header.pack()
        offset = layout.table_offset
        entries = self.max_table_entries
        for first in range(0, entries, BAT_CHUNK):
            chunk = self.bat(first, min(BAT_CHUNK, entries - first))
            yield offset, chunk
            offset += len(chunk)
        padding = layout.table_offset + layout.table_bytes - offset
        if padding:
            yield offset, bytes(padding)
        batmap = self.batmap()
        batmap_header = BatmapHeader.for_xenserver(
            layout.batmap_header_offset, self.max_table_entries,
            batmap_checksum(bytes(batmap), footer.current_size))
        yield layout.batmap_header_offset, batmap_header.pack() + batmap


@dataclasses.dataclass(frozen=True, slots=True)
class FlatPlan:
    """A raw image (``footer`` False) or a fixed disk: data, then a footer."""

    virtual_size: int
    footer: bool

    allocated_blocks = 0

    @property
    def file_size(self) -> int:
        return self.virtual_size + (c.FOOTER_SIZE if self.footer else 0)

    def regions(self, offset: int = 0) -> Iterator[Region]:
        yield Region(0, self.virtual_size, DATA, 0)
        if self.footer:
            yield Region(self.virtual_size, self.file_size, FOOTER)


Plan = DynamicPlan | FlatPlan
