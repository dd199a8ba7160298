"""Gathering a source's data one block at a time into one reused buffer."""

from __future__ import annotations

from typing import Callable, Iterator, Optional, Tuple

from diskimage_vhd.extents import blocks_touched
from diskimage_vhd.sources import Source

Block = Tuple[int, memoryview, bool]  # index, block-sized data, all zero


class BlockReader:
    """Read only the blocks a source has data in; never read its holes.

    The same buffer is handed out for every block, so memory stays at one
    block whatever the disk's size.
    """

    def __init__(self, source: Source, block_size: int,
                 progress: Optional[Callable[[int], None]] = None):
        self.source = source
        self.block_size = block_size
        self.progress = progress
        self._buffer = bytearray(block_size)
        self._view = memoryview(self._buffer)
        self._zeros = bytes(block_size)

    def data_blocks(self) -> Iterator[Block]:
        """Yield ``(index, data, is_zero)`` for each block with extents."""
        for index, pieces in self._touched():
            yield self._fill(index, pieces)

    def all_blocks(self, count: int) -> Iterator[Block]:
        """Yield every block up to ``count``, zero blocks included."""
        expected = 0
        for index, pieces in self._touched():
            yield from self._zero_blocks(expected, index)
            yield self._fill(index, pieces)
            expected = index + 1
        yield from self._zero_blocks(expected, count)

    def _touched(self) -> Iterator[Tuple[int, list]]:
        return blocks_touched(self.source.data_extents(), self.block_size)

    def _fill(self, index: int, pieces: list) -> Block:
        """Read a block's pieces into the buffer; the rest of it is zeros."""
        bs = self.block_size
        start = index * bs
        if pieces == [(0, bs)]:
            self.source.read_into(start, self._view)
        else:
            self._view[:] = self._zeros
            for lo, hi in pieces:
                self.source.read_into(start + lo, self._view[lo:hi])
        if self.progress:
            self.progress(start + bs)
        return index, self._view, self._buffer == self._zeros

    def _zero_blocks(self, start: int, stop: int) -> Iterator[Block]:
        if start >= stop:
            return
        self._view[:] = self._zeros
        for index in range(start, stop):
            if self.progress:
                self.progress((index + 1) * self.block_size)
            yield index, self._view, True
