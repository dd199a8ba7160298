"""Gathering a source's data one block at a time, holes and zeros left out.

The reader hands out typed pieces, so what consumes them (the file writer,
the stream, the content digest) never touches the source itself:

* ``Data``: non-zero bytes in hand (in the reader's buffer);
* ``Copy``: non-zero bytes left in the source, only probed; the reader
  reads them out (``chunks``) on request, or the writer has the kernel
  copy them (``Source.copy_range``);
* ``Zeros``: a range known to read as zeros (a hole, or written zeros).

The pieces of a block tile it, ``[0, block_size)``, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from collections import deque
from collections import namedtuple

from diskimage_vhd.image.sources import Source
from diskimage_vhd.make.zeroscan import ZeroScanner
from diskimage_vhd.posix.extents import blocks_touched
from diskimage_vhd.posix.io import read_buffer

OnProgress = Callable[[int], None] | None

# Enough of a piece to tell random data from zeros without reading it all.
PROBE = 4096
# Copying through user memory goes faster in pieces that stay in the CPU's
# cache between the read and the write (measured: 2 MiB at a time costs a
# fifth more CPU than 128-256 KiB).
COPY_CHUNK = 256 * 1024
# Blocks whose data the kernel is asked to read ahead of the one at hand:
# on a cold cache the disk keeps several requests in flight (32 MiB: with
# the kernel's own read-ahead off, ``posix.io.reads_announced``, this is
# all there is; 16 MiB left the DIB-like disk 5-15 % slower from a cold
# cache).
READ_AHEAD = 16
# Blocks probed together, their suspected zeros scanned in one go on two
# cores (``ZeroScanner.are_zero``): one handover to the worker per batch.
SCAN_BATCH = 16
# Data ranges shorter than this are not announced: the advice costs a
# system call, more than it saves on a range this small.  Only data ranges
# are announced, never the holes between them, which the kernel would fill
# with zero pages (measured: 100,000 4 KiB extents, one advice per block
# spanning them, cost 27 s of 38).
READ_AHEAD_MIN = 64 * 1024


class Data(namedtuple('Data', 'start end data')):
    """Non-zero bytes at ``[start, end)`` of a block, valid until the next block."""

    __slots__ = ()
    start: int
    end: int
    data: memoryview


class Copy(namedtuple('Copy', 'start end')):
    """Non-zero bytes at ``[start, end)`` of a block, still in the source."""

    __slots__ = ()
    start: int
    end: int


class Zeros(namedtuple('Zeros', 'start end')):
    """``[start, end)`` of a block reads as zeros."""

    __slots__ = ()
    start: int
    end: int


class Block(namedtuple('Block', 'index pieces')):
    """Block ``index`` of the disk, as the pieces that tile it."""

    __slots__ = ()
    index: int
    pieces: list[Piece]  # tiling the block, in increasing order

    @property
    def is_zero(self) -> bool:
        return all(type(piece) is Zeros for piece in self.pieces)


Piece = Data | Copy | Zeros
# Pieces classified ahead of reading, by (block index, start).
Known = dict[tuple[int, int], Copy | Zeros]


class BlockReader:
    """Read only the blocks a source has data in; never read its holes.

    The same buffer serves every block, so memory stays at one block
    whatever the disk's size, and it is never zero-filled: only the pieces
    with data are handed out.  With ``need_data`` False, a piece whose first
    page is not zero is not read further: it is handed out as ``Copy``.
    """

    def __init__(self, source: Source, block_size: int,
                 progress: OnProgress = None, need_data: bool = True):
        self._source = source
        self.block_size = block_size
        self.progress = progress
        self.need_data = need_data
        self._view = read_buffer(block_size)
        self._zeros = bytes(block_size)
        # Where a piece is only scanned for zeros: buffers small enough to
        # stay in the CPU's cache between the read and the comparison
        # (written zeros cost a third of the CPU of a read into the
        # block's buffer and a comparison from memory).
        self._scanner = ZeroScanner(source.read_into,
                                    min(COPY_CHUNK, block_size))

    def data_blocks(self) -> Iterator[Block]:
        """Yield each block with extents; it may still be all zeros."""
        for index, ranges, known in self._classified():
            yield self._fill(index, ranges, known)

    def all_blocks(self, count: int) -> Iterator[Block]:
        """Yield every block up to ``count``, zero blocks included."""
        expected = 0
        for index, ranges, known in self._classified():
            if index >= count:
                break
            yield from self._zero_blocks(expected, index)
            yield self._fill(index, ranges, known)
            expected = index + 1
        yield from self._zero_blocks(expected, count)

    def _touched(self) -> Iterator[tuple[int, list]]:
        """Each block with extents, its data asked for ``READ_AHEAD`` ahead."""
        will_need = getattr(self._source, 'will_need', None)  # optional
        ahead: deque[tuple[int, list]] = deque()
        for touched in blocks_touched(self._source.data_extents(),
                                      self.block_size):
            index, ranges = touched
            if will_need is not None:
                start = index * self.block_size
                for lo, hi in ranges:
                    if hi - lo >= READ_AHEAD_MIN:
                        will_need(start + lo, hi - lo)
            ahead.append(touched)
            if len(ahead) > READ_AHEAD:
                yield ahead.popleft()
        yield from ahead

    def _classified(self) -> Iterator[tuple[int, list, Known]]:
        """Each block with extents, and what is already known of its pieces,
        found ``SCAN_BATCH`` blocks at a time.
        """
        batch: list[tuple[int, list]] = []
        for touched in self._touched():
            batch.append(touched)
            if len(batch) == SCAN_BATCH:
                yield from self._probed(batch)
                batch = []
        yield from self._probed(batch)

    def _probed(self, batch: list[tuple[int, list]]
                ) -> Iterator[tuple[int, list, Known]]:
        """Without ``need_data``, each long piece of ``batch`` as ``Copy`` or
        ``Zeros``: a piece whose first page is not zero is data; the rest
        of those whose first page is zero are scanned together.

        ``bytes.startswith`` compares with ``memcmp`` and stops at the first
        difference, so random data costs next to nothing to check.
        """
        known: Known = {}
        if not self.need_data:
            suspects: list[tuple[int, int]] = []
            pieces: list[tuple[int, int, int]] = []
            probe = self._view[:PROBE]
            for index, ranges in batch:
                start = index * self.block_size
                for lo, hi in ranges:
                    if hi - lo <= PROBE:
                        continue
                    self._source.read_into(start + lo, probe)
                    if self._zeros.startswith(probe):
                        suspects.append((start + lo + PROBE, hi - lo - PROBE))
                        pieces.append((index, lo, hi))
                    else:
                        known[index, lo] = Copy(lo, hi)
            for (index, lo, hi), zero in zip(
                    pieces, self._scanner.are_zero(suspects)):
                known[index, lo] = Zeros(lo, hi) if zero else Copy(lo, hi)
        for index, ranges in batch:
            yield index, ranges, known

    def _fill(self, index: int, ranges: list, known: Known) -> Block:
        start = index * self.block_size
        pieces: list[Piece] = []
        position = 0
        for lo, hi in ranges:
            if lo > position:
                pieces.append(Zeros(position, lo))
            pieces.append(known.get((index, lo))
                          or self._read_piece(start, lo, hi))
            position = hi
        if position < self.block_size:
            pieces.append(Zeros(position, self.block_size))
        if self.progress:
            self.progress(start + self.block_size)
        return Block(index, pieces)

    def _read_piece(self, block_start: int, lo: int, hi: int) -> Piece:
        """The piece at ``[lo, hi)`` read whole: its data, or zeros."""
        view = self._view
        self._source.read_into(block_start + lo, view[lo:hi])
        if self._zeros.startswith(view[lo:hi]):
            return Zeros(lo, hi)
        return Data(lo, hi, view[lo:hi])

    def gather(self, block: Block) -> memoryview:
        """The block's bytes in this reader's buffer, valid inside its pieces
        that are not ``Zeros`` (anything may be left between them): each
        ``Copy`` read whole, each ``Data`` from elsewhere copied in.
        """
        view = self._view
        start = block.index * self.block_size
        for piece in block.pieces:
            kind = type(piece)
            if kind is Copy:
                self._source.read_into(start + piece.start,
                                       view[piece.start:piece.end])
            elif kind is Data and piece.data.obj is not view.obj:
                view[piece.start:piece.end] = piece.data
        return view

    def chunks(self, index: int, piece: Copy, skip: int = 0
               ) -> Iterator[tuple[int, memoryview]]:
        """Read a ``Copy`` piece a chunk at a time.

        Yields ``(offset in the piece, bytes)``; each chunk is valid until
        the next.  ``skip`` leaves out what was already copied.
        """
        start = index * self.block_size + piece.start
        for lo in range(skip, piece.end - piece.start, COPY_CHUNK):
            hi = min(lo + COPY_CHUNK, piece.end - piece.start)
            view = self._view[piece.start + lo:piece.start + hi]
            self._source.read_into(start + lo, view)
            yield lo, view

    def _zero_blocks(self, start: int, stop: int) -> Iterator[Block]:
        for index in range(start, stop):
            if self.progress:
                self.progress((index + 1) * self.block_size)
            yield Block(index, [Zeros(0, self.block_size)])
