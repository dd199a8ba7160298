"""Writing dynamic, fixed and raw disks, laid out exactly as libvhd does."""

from __future__ import annotations

import array
import dataclasses
import hashlib
import os
import struct
import sys
from typing import Callable, Optional

from diskimage_vhd.blocks import BlockReader
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.batmap import BatmapHeader, batmap_checksum
from diskimage_vhd.format.bitmap import set_bit
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.format.layout import DynamicLayout, next_block_sector
from diskimage_vhd.sources import Source

FULL_BITMAP = b'\xff' * c.SECTOR_SIZE
Progress = Optional[Callable[[int], None]]
FooterMaker = Callable[[bytes], Footer]


@dataclasses.dataclass
class WriteResult:
    """What a writer did, for reports and for the caller's checks."""

    virtual_size: int
    file_size: int
    allocated_blocks: int = 0
    footer: Optional[Footer] = None


def write_all(fd: int, data: bytes, offset: int) -> None:
    """``pwrite`` that finishes the job (short writes happen on some FSes)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def write_block(fd: int, data: memoryview, offset: int, is_zero: bool) -> None:
    """One block's bitmap and data in one call; a zero block's data left a hole."""
    if is_zero:
        write_all(fd, FULL_BITMAP, offset)
        return
    total = c.SECTOR_SIZE + len(data)
    written = os.pwritev(fd, [FULL_BITMAP, data], offset)
    if written < total:
        rest = (FULL_BITMAP + bytes(data))[written:]
        write_all(fd, rest, offset + written)


def write_dynamic(source: Source, fd: int, *, virtual_size: int,
                  max_table_entries: int, allocate_all: bool,
                  make_footer: FooterMaker, progress: Progress = None
                  ) -> WriteResult:
    """Write ``source`` to ``fd`` as a dynamic disk, byte for byte as libvhd.

    Blocks go one after another from the end of the metadata, each with its
    data aligned to 4 KiB; the first sector of each gap gets a footer copy,
    as libvhd leaves one there.  ``make_footer`` receives the SHA-256 of the
    parameters and every non-zero block written, so a footer UUID can be
    derived from the content; metadata and footers are written last.
    """
    layout = DynamicLayout(max_table_entries)
    blocks = -(-virtual_size // c.BLOCK_SIZE)
    bat = array.array('I', [c.UNALLOCATED]) * max_table_entries
    batmap = bytearray(layout.batmap_bytes)
    digest = hashlib.sha256(struct.pack('>QI?', virtual_size,
                                        max_table_entries, allocate_all))
    gaps = array.array('Q')
    end = layout.metadata_end // c.SECTOR_SIZE
    reader = BlockReader(source, c.BLOCK_SIZE, progress)
    stream = (reader.all_blocks(blocks) if allocate_all
              else reader.data_blocks())
    for index, data, is_zero in stream:
        if is_zero and not allocate_all:
            continue
        sector = next_block_sector(end)
        if sector != end:
            gaps.append(end)
        write_block(fd, data, sector * c.SECTOR_SIZE, is_zero)
        if not is_zero:
            digest.update(struct.pack('>I', index))
            digest.update(data)
        bat[index] = sector
        set_bit(batmap, index)
        end = sector + 1 + c.SECTORS_PER_BLOCK

    footer = make_footer(digest.digest())
    footer_bytes = footer.pack()
    for gap in gaps:
        write_all(fd, footer_bytes, gap * c.SECTOR_SIZE)
    write_all(fd, footer_bytes, end * c.SECTOR_SIZE)
    write_all(fd, _metadata(layout, footer, bat, batmap), 0)
    return WriteResult(virtual_size=virtual_size,
                       file_size=(end + 1) * c.SECTOR_SIZE,
                       allocated_blocks=sum(1 for e in bat
                                            if e != c.UNALLOCATED),
                       footer=footer)


def _metadata(layout: DynamicLayout, footer: Footer, bat: array.array,
              batmap: bytearray) -> bytes:
    """Footer copy, header, BAT, batmap header and batmap, contiguous."""
    if sys.byteorder == 'little':
        bat = array.array('I', bat)
        bat.byteswap()
    table = bat.tobytes().ljust(layout.table_bytes, b'\0')
    header = DynamicHeader.for_xenserver(layout.max_table_entries)
    batmap_header = BatmapHeader.for_xenserver(
        layout.batmap_header_offset, layout.max_table_entries,
        batmap_checksum(bytes(batmap), footer.current_size))
    return b''.join((footer.pack(), header.pack(), table, batmap_header.pack(),
                     bytes(batmap)))


def write_plain(source: Source, fd: int, size: int,
                progress: Progress = None) -> None:
    """Write the first ``size`` bytes of ``source`` as a sparse flat file."""
    reader = BlockReader(source, c.BLOCK_SIZE, progress)
    for index, data, is_zero in reader.data_blocks():
        start = index * c.BLOCK_SIZE
        if is_zero or start >= size:
            continue
        write_all(fd, data[:size - start], start)
    os.ftruncate(fd, size)


def write_fixed(source: Source, fd: int, *, size: int, footer: Footer,
                progress: Progress = None) -> WriteResult:
    """The data, zero-padded to ``size``, then one fixed footer."""
    write_plain(source, fd, size, progress)
    write_all(fd, footer.pack(), size)
    return WriteResult(virtual_size=size, file_size=size + c.FOOTER_SIZE,
                       footer=footer)


def write_raw(source: Source, fd: int, *, size: int,
              progress: Progress = None) -> WriteResult:
    write_plain(source, fd, size, progress)
    return WriteResult(virtual_size=size, file_size=size)
