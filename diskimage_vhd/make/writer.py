"""Writing dynamic, fixed and raw disks to a new file, laid out as libvhd does.

A writer lays the data out and returns what it did (the plan of a dynamic
disk, the content digest when one was asked for); the caller stamps the
footer from that (``identity.Stamp``) and hands it back to ``finish_*``.
So the footer's UUID can follow the content without the writer knowing
how, and the data goes out in one pass.
"""

from __future__ import annotations

from collections import namedtuple
import os
from typing import TYPE_CHECKING

from diskimage_vhd.format.bitmap import FULL_BLOCK_BITMAP
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.make.blocks import Block
from diskimage_vhd.make.blocks import BlockReader
from diskimage_vhd.make.blocks import Copy
from diskimage_vhd.make.blocks import Data
from diskimage_vhd.make.blocks import Zeros
from diskimage_vhd.make.identity import ContentDigest
from diskimage_vhd.make.plan import DynamicPlan
from diskimage_vhd.make.render import Rendering
from diskimage_vhd.posix.io import write_all
from diskimage_vhd.posix.writeback import Writeback

if TYPE_CHECKING:
    from diskimage_vhd.image.sources import Source
    from diskimage_vhd.make.blocks import OnProgress
    from diskimage_vhd.make.hashing import BackgroundDigest


class Written(namedtuple('Written', 'virtual_size file_size plan digest',
                         defaults=(None, None))):
    """What a writer laid out: enough to stamp the footer and report."""

    __slots__ = ()
    virtual_size: int
    file_size: int
    plan: DynamicPlan | None  # dynamic disks only (default None)
    digest: bytes | None  # when a ContentDigest was given (default None)

    @property
    def allocated_blocks(self) -> int:
        return self.plan.allocated_blocks if self.plan else 0


def write_vector(fd: int, parts: list[memoryview], offset: int) -> None:
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


def write_piece(fd: int, reader: BlockReader, index: int,
                piece: Data | Copy, offset: int) -> None:
    """A piece's bytes at ``offset``: from memory, else moved by the reader."""
    if isinstance(piece, Data):
        write_all(fd, piece.data, offset)
    else:
        reader.copy_to(fd, index, piece, offset,
                       lambda data, at: write_all(fd, data, at))


def write_block(fd: int, reader: BlockReader, block: Block,
                offset: int) -> int:
    """A block's bitmap and its non-zero pieces; zeros are left a hole.

    The output is a new file, so a hole reads as the zeros it stands for;
    a whole block of data goes out with its bitmap in one call.  Returns
    the bytes written.
    """
    pieces = block.pieces
    written = c.SECTOR_SIZE
    if isinstance(pieces[0], Data):
        write_vector(fd, [FULL_BLOCK_BITMAP, pieces[0].data], offset)
        written += len(pieces[0].data)
        pieces = pieces[1:]
    else:
        write_all(fd, FULL_BLOCK_BITMAP, offset)
    for piece in pieces:
        if not isinstance(piece, Zeros):
            write_piece(fd, reader, block.index, piece,
                        offset + c.SECTOR_SIZE + piece.start)
            written += piece.end - piece.start
    return written


def write_dynamic(source: Source, fd: int, plan: DynamicPlan, *,
                  allocate_all: bool, digest: ContentDigest | None = None,
                  progress: OnProgress = None, sync: bool = False) -> Written:
    """Write ``source``'s blocks to ``fd`` as libvhd lays them out.

    ``fd`` must be a new, empty file: parts of blocks without data are left
    as holes.  ``plan`` (empty) receives each block allocated, in order;
    ``digest``, if given, every block's content (it costs more than the
    copy, though a worker thread hashes it beside the copy: give one only
    when a UUID is derived from it).  The metadata and
    footers go last, by ``finish_dynamic``, once the footer is stamped.
    ``sync``: a flush will follow, so start the write-out as we go.
    """
    reader = BlockReader(source, c.BLOCK_SIZE, progress, need_data=False)
    writeback = Writeback(fd, sync)
    stream = (reader.all_blocks(plan.blocks) if allocate_all
              else reader.data_blocks())
    hasher = _hasher(digest, source)
    try:
        for block in stream:
            if hasher is not None:
                hasher.add(block)
            if block.is_zero and not allocate_all:
                continue
            offset = plan.add(block.index) * c.SECTOR_SIZE
            writeback.wrote(offset, write_block(fd, reader, block, offset))
        writeback.push()
        return Written(plan.virtual_size, plan.file_size, plan,
                       hasher.finish() if hasher is not None else None)
    finally:
        if hasher is not None:
            hasher.close()


def _hasher(digest: ContentDigest | None,
            source: Source) -> BackgroundDigest | None:
    """A worker hashing beside the copy, if a digest is wanted (imported
    here: a conversion without one needs neither threads nor queues).
    """
    if digest is None:
        return None
    from diskimage_vhd.make.hashing import BackgroundDigest
    return BackgroundDigest(digest, source)


def finish_dynamic(fd: int, plan: DynamicPlan, footer: Footer) -> None:
    """The footer copies in the gaps and at the end, then the metadata."""
    for offset, data in Rendering(plan, footer).placed():
        write_all(fd, data, offset)


def write_plain(source: Source, fd: int, size: int, *,
                digest: ContentDigest | None = None,
                progress: OnProgress = None, sync: bool = False) -> Written:
    """Write the first ``size`` bytes of ``source`` as a sparse flat file.

    ``fd`` must be a new, empty file; only non-zero pieces are written.
    """
    reader = BlockReader(source, c.BLOCK_SIZE, progress, need_data=False)
    writeback = Writeback(fd, sync)
    hasher = _hasher(digest, source)
    try:
        written = _write_plain(reader, fd, size, writeback, hasher)
    finally:
        if hasher is not None:
            hasher.close()
    return Written(size, size, None, written)


def _write_plain(reader: BlockReader, fd: int, size: int,
                 writeback: Writeback,
                 hasher: BackgroundDigest | None) -> bytes | None:
    for block in reader.data_blocks():
        if hasher is not None:
            hasher.add(block)
        start = block.index * c.BLOCK_SIZE
        for piece in block.pieces:
            stop = min(piece.end, size - start)
            if isinstance(piece, Zeros) or piece.start >= stop:
                continue
            if isinstance(piece, Data):
                piece = Data(piece.start, stop, piece.data[:stop - piece.start])
            else:
                piece = Copy(piece.start, stop)
            write_piece(fd, reader, block.index, piece, start + piece.start)
            writeback.wrote(start + piece.start, piece.end - piece.start)
    writeback.push()
    os.ftruncate(fd, size)
    return hasher.finish() if hasher is not None else None


def finish_fixed(fd: int, size: int, footer: Footer) -> int:
    """The one footer of a fixed disk, after its ``size`` bytes of data."""
    write_all(fd, footer.pack(), size)
    return size + c.FOOTER_SIZE
