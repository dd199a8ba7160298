"""Writing dynamic, fixed and raw disks, laid out exactly as libvhd does."""

from __future__ import annotations

import array
import dataclasses
import hashlib
import os
import struct
import sys
from typing import Any, Callable, List, Optional

from diskimage_vhd.format.batmap import batmap_checksum
from diskimage_vhd.format.batmap import BatmapHeader
from diskimage_vhd.format.bitmap import set_bit
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.format.layout import DynamicLayout
from diskimage_vhd.format.layout import next_block_sector
from diskimage_vhd.image.sources import Source
from diskimage_vhd.make.blocks import Block
from diskimage_vhd.make.blocks import BlockReader
from diskimage_vhd.make.blocks import Piece
from diskimage_vhd.posix.writeback import Writeback

FULL_BITMAP = b'\xff' * c.SECTOR_SIZE
ZERO_BLOCK = bytes(c.BLOCK_SIZE)
BLOCK_BYTES = c.SECTOR_SIZE + c.BLOCK_SIZE  # bitmap and data
BAT_CHUNK = 1 << 16  # BAT entries written at a time
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


def write_vector(fd: int, parts: List[memoryview], offset: int) -> None:
    """Contiguous ``parts`` in one ``pwritev``, finishing any short write."""
    written = os.pwritev(fd, parts, offset)
    for part in parts:
        if written >= len(part):
            written -= len(part)
            offset += len(part)
            continue
        write_all(fd, memoryview(part)[written:], offset + written)
        offset += len(part)
        written = 0


def write_piece(fd: int, reader: BlockReader, index: int, piece: Piece,
                offset: int) -> None:
    """A piece's bytes at ``offset``: from memory, else copied from the source.

    In the kernel (``copy_file_range``) where the source can, otherwise, or
    for what that left, through the reader's buffer a chunk at a time.
    """
    if piece.data is not None:
        write_all(fd, piece.data, offset)
        return
    source = reader.source
    done = 0
    if hasattr(source, 'copy_range'):
        done = source.copy_range(fd, index * reader.block_size + piece.start,
                                 piece.end - piece.start, offset)
    for position, data in reader.chunks(index, piece, skip=done):
        write_all(fd, data, offset + position)


def write_block(fd: int, reader: BlockReader, block: Block,
                offset: int) -> None:
    """A block's bitmap and its non-zero pieces; the rest is left a hole.

    The output is a new file, so a hole reads as the zeros it stands for;
    a whole block of data goes out with its bitmap in one call.
    """
    pieces = block.pieces
    if pieces and pieces[0].start == 0 and pieces[0].data is not None:
        write_vector(fd, [FULL_BITMAP, pieces[0].data], offset)
        pieces = pieces[1:]
    else:
        write_all(fd, FULL_BITMAP, offset)
    for piece in pieces:
        write_piece(fd, reader, block.index, piece,
                    offset + c.SECTOR_SIZE + piece.start)


def digest_block(digest: Any, block: Block, block_size: int) -> None:
    """Hash a block as its full ``block_size`` bytes, zeros included."""
    digest.update(struct.pack('>I', block.index))
    zeros = memoryview(ZERO_BLOCK)
    position = 0
    for piece in block.pieces:
        digest.update(zeros[:piece.start - position])
        digest.update(piece.data)
        position = piece.end
    digest.update(zeros[:block_size - position])


def write_dynamic(source: Source, fd: int, *, virtual_size: int,
                  max_table_entries: int, allocate_all: bool,
                  make_footer: FooterMaker, progress: Progress = None,
                  digest_content: bool = True) -> WriteResult:
    """Write ``source`` to ``fd`` as a dynamic disk, byte for byte as libvhd.

    ``fd`` must be a new, empty file: parts of blocks without data are left
    as holes.  Blocks go one after another from the end of the metadata,
    each with its data aligned to 4 KiB; the first sector of each gap gets a
    footer copy, as libvhd leaves one there.  ``make_footer`` receives the
    SHA-256 of the parameters and, if ``digest_content``, of every non-zero
    block written, so a footer UUID can be derived from the content (the
    hashing is skipped when no one needs it: it costs more than the copy);
    metadata and footers are written last.
    """
    layout = DynamicLayout(max_table_entries)
    blocks = -(-virtual_size // c.BLOCK_SIZE)
    indexes = array.array('I')  # the allocated BAT entries, in order
    sectors = array.array('I')
    batmap = bytearray(layout.batmap_bytes)
    digest = hashlib.sha256(struct.pack('>QI?', virtual_size,
                                        max_table_entries, allocate_all))
    gaps = array.array('Q')
    end = layout.metadata_end // c.SECTOR_SIZE
    reader = BlockReader(source, c.BLOCK_SIZE, progress,
                         need_data=digest_content)
    writeback = Writeback(fd)
    stream = (reader.all_blocks(blocks) if allocate_all
              else reader.data_blocks())
    for block in stream:
        if block.is_zero and not allocate_all:
            continue
        sector = next_block_sector(end)
        if sector != end:
            gaps.append(end)
        write_block(fd, reader, block, sector * c.SECTOR_SIZE)
        writeback.wrote(sector * c.SECTOR_SIZE, BLOCK_BYTES)
        if digest_content and not block.is_zero:
            digest_block(digest, block, c.BLOCK_SIZE)
        indexes.append(block.index)
        sectors.append(sector)
        set_bit(batmap, block.index)
        end = sector + 1 + c.SECTORS_PER_BLOCK
    writeback.push()

    footer = make_footer(digest.digest())
    footer_bytes = footer.pack()
    for gap in gaps:
        write_all(fd, footer_bytes, gap * c.SECTOR_SIZE)
    write_all(fd, footer_bytes, end * c.SECTOR_SIZE)
    _write_metadata(fd, layout, footer, indexes, sectors, batmap)
    return WriteResult(virtual_size=virtual_size,
                       file_size=(end + 1) * c.SECTOR_SIZE,
                       allocated_blocks=len(indexes), footer=footer)


def _write_metadata(fd: int, layout: DynamicLayout, footer: Footer,
                    indexes: array.array, sectors: array.array,
                    batmap: bytearray) -> None:
    """Footer copy, header, BAT, batmap header and batmap."""
    header = DynamicHeader.for_xenserver(layout.max_table_entries)
    write_all(fd, footer.pack() + header.pack(), 0)
    _write_table(fd, layout, indexes, sectors)
    batmap_header = BatmapHeader.for_xenserver(
        layout.batmap_header_offset, layout.max_table_entries,
        batmap_checksum(bytes(batmap), footer.current_size))
    write_all(fd, batmap_header.pack() + batmap, layout.batmap_header_offset)


def _write_table(fd: int, layout: DynamicLayout, indexes: array.array,
                 sectors: array.array) -> None:
    """The BAT, a chunk at a time, from its allocated entries.

    Only allocated entries are kept, so memory follows the data rather than
    the virtual size (a 2 TiB disk has a 4 MiB BAT, nearly all unallocated).
    """
    entries = layout.max_table_entries
    offset = layout.table_offset
    position = 0
    for first in range(0, entries, BAT_CHUNK):
        count = min(BAT_CHUNK, entries - first)
        chunk = array.array('I', [c.UNALLOCATED]) * count
        while position < len(indexes) and indexes[position] < first + count:
            chunk[indexes[position] - first] = sectors[position]
            position += 1
        if sys.byteorder == 'little':
            chunk.byteswap()
        write_all(fd, memoryview(chunk).cast('B'), offset)
        offset += count * 4
    padding = layout.table_offset + layout.table_bytes - offset
    write_all(fd, bytes(padding), offset)


def write_plain(source: Source, fd: int, size: int,
                progress: Progress = None) -> None:
    """Write the first ``size`` bytes of ``source`` as a sparse flat file.

    ``fd`` must be a new, empty file; only non-zero pieces are written.
    """
    reader = BlockReader(source, c.BLOCK_SIZE, progress, need_data=False)
    writeback = Writeback(fd)
    for block in reader.data_blocks():
        start = block.index * c.BLOCK_SIZE
        for piece in block.pieces:
            stop = min(piece.end, size - start)
            if piece.start >= stop:
                continue
            if stop < piece.end:
                data = piece.data
                piece = Piece(piece.start, stop, None if data is None
                              else data[:stop - piece.start])
            write_piece(fd, reader, block.index, piece, start + piece.start)
            writeback.wrote(start + piece.start, piece.end - piece.start)
    writeback.push()
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
