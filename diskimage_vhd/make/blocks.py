"""Gathering a source's data one block at a time, holes and zeros left out."""

from __future__ import annotations

from typing import Callable, Iterator, List, NamedTuple, Optional, Tuple

from diskimage_vhd.image.sources import Source
from diskimage_vhd.posix.extents import blocks_touched

# Enough of a piece to tell random data from zeros without reading it all.
PROBE = 4096
# Copying through user memory goes faster in pieces that stay in the CPU's
# cache between the read and the write (measured: 2 MiB at a time costs a
# fifth more CPU than 128-256 KiB).
COPY_CHUNK = 256 * 1024


class Piece(NamedTuple):
    """Non-zero bytes at ``[start, end)`` of a block.

    ``data`` holds them (in the reader's buffer, valid until the next block),
    or is None when they were only probed: copy them from the source then.
    """

    start: int
    end: int
    data: Optional[memoryview]


class Block(NamedTuple):
    index: int
    pieces: List[Piece]  # in increasing order; none for an all-zero block

    @property
    def is_zero(self) -> bool:
        return not self.pieces


class BlockReader:
    """Read only the blocks a source has data in; never read its holes.

    The same buffer serves every block, so memory stays at one block
    whatever the disk's size, and it is never zero-filled: only the pieces
    with data are handed out.  With ``need_data`` False, a piece whose first
    page is not zero is not read further: the writer copies it from the
    source in the kernel (``copy_file_range``) where it can, else through
    ``chunks``.
    """

    def __init__(self, source: Source, block_size: int,
                 progress: Optional[Callable[[int], None]] = None,
                 need_data: bool = True):
        self.source = source
        self.block_size = block_size
        self.progress = progress
        self.need_data = need_data
        self._view = memoryview(bytearray(block_size))
        self._zeros = bytes(block_size)

    def data_blocks(self) -> Iterator[Block]:
        """Yield each block with extents; ``pieces`` is empty if all zero."""
        for index, ranges in self._touched():
            yield self._fill(index, ranges)

    def all_blocks(self, count: int) -> Iterator[Block]:
        """Yield every block up to ``count``, zero blocks included."""
        expected = 0
        for index, ranges in self._touched():
            yield from self._zero_blocks(expected, index)
            yield self._fill(index, ranges)
            expected = index + 1
        yield from self._zero_blocks(expected, count)

    def _touched(self) -> Iterator[tuple]:
        return blocks_touched(self.source.data_extents(), self.block_size)

    def _fill(self, index: int, ranges: list) -> Block:
        start = index * self.block_size
        pieces = [piece for piece in (self._piece(start, lo, hi)
                                      for lo, hi in ranges) if piece]
        if self.progress:
            self.progress(start + self.block_size)
        return Block(index, pieces)

    def _piece(self, block_start: int, lo: int, hi: int) -> Optional[Piece]:
        """The piece at ``[lo, hi)``, or None if it holds only zeros.

        ``bytes.startswith`` compares with ``memcmp`` and stops at the first
        difference, so random data costs next to nothing to check.
        """
        view = self._view
        if not self.need_data and hi - lo > PROBE:
            probe = view[lo:lo + PROBE]
            self.source.read_into(block_start + lo, probe)
            if not self._zeros.startswith(probe):
                return Piece(lo, hi, None)
            self.source.read_into(block_start + lo + PROBE, view[lo + PROBE:hi])
        else:
            self.source.read_into(block_start + lo, view[lo:hi])
        if self._zeros.startswith(view[lo:hi]):
            return None
        return Piece(lo, hi, view[lo:hi])

    def chunks(self, index: int, piece: Piece, skip: int = 0
               ) -> Iterator[Tuple[int, memoryview]]:
        """Read a piece handed out without its bytes, a chunk at a time.

        Yields ``(offset in the piece, bytes)``; each chunk is valid until
        the next.  ``skip`` leaves out what was already copied.
        """
        start = index * self.block_size + piece.start
        for lo in range(skip, piece.end - piece.start, COPY_CHUNK):
            hi = min(lo + COPY_CHUNK, piece.end - piece.start)
            view = self._view[piece.start + lo:piece.start + hi]
            self.source.read_into(start + lo, view)
            yield lo, view

    def _zero_blocks(self, start: int, stop: int) -> Iterator[Block]:
        for index in range(start, stop):
            if self.progress:
                self.progress((index + 1) * self.block_size)
            yield Block(index, [])
