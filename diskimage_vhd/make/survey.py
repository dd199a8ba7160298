"""The planning pass: where a source's data is, found once, before writing.

One pass over the source's data extents (``BlockReader.data_blocks``, each
piece only probed, written zeros scanned once) records where the non-zero
bytes are, as ranges of the virtual disk (``DataMap``), and allocates the
blocks that hold them in a dynamic disk's plan.  Everything after that
(``render.py``: files, pipes, checksums, ``VhdFile``) needs only the plan
and the map.  No byte of data is kept: the map is two arrays of offsets,
adjacent ranges merged, so memory follows the extents, not the disk size.
"""

from __future__ import annotations

import array
import bisect
from collections.abc import Iterator

from diskimage_vhd.format import constants as c
from diskimage_vhd.image.sources import Source
from diskimage_vhd.make.blocks import Block
from diskimage_vhd.make.blocks import BlockReader
from diskimage_vhd.make.blocks import Copy
from diskimage_vhd.make.blocks import OnProgress
from diskimage_vhd.make.blocks import Piece
from diskimage_vhd.make.blocks import Zeros
from diskimage_vhd.make.hashing import BackgroundDigest
from diskimage_vhd.make.plan import DynamicPlan
from diskimage_vhd.make.plan import Plan


class DataMap:
    """The ranges of the virtual disk that hold non-zero bytes, in order.

    Everything outside them reads as zeros (holes, written zeros).  A range
    never holds only zeros, so a block is non-zero exactly when a range
    touches it.
    """

    def __init__(self) -> None:
        self.starts = array.array('Q')
        self.ends = array.array('Q')

    def __len__(self) -> int:
        return len(self.starts)

    def __repr__(self) -> str:
        return f'DataMap({len(self)} ranges)'

    def add(self, start: int, end: int) -> None:
        """Note ``[start, end)``, above every range so far."""
        if self.ends and self.ends[-1] == start:
            self.ends[-1] = end
        else:
            self.starts.append(start)
            self.ends.append(end)

    def spans(self, lo: int, hi: int) -> Iterator[tuple[int, int]]:
        """The ranges meeting ``[lo, hi)``, cut to it, in order."""
        starts, ends = self.starts, self.ends
        position = bisect.bisect_right(ends, lo)
        while position < len(starts) and starts[position] < hi:
            yield max(starts[position], lo), min(ends[position], hi)
            position += 1

    def block(self, index: int) -> Block:
        """Block ``index`` as pieces that tile it: ``Copy`` where the data
        is, ``Zeros`` between (what ``ContentDigest`` hashes).
        """
        base = index * c.BLOCK_SIZE
        pieces: list[Piece] = []
        position = 0
        for lo, hi in self.spans(base, base + c.BLOCK_SIZE):
            if lo - base > position:
                pieces.append(Zeros(position, lo - base))
            pieces.append(Copy(lo - base, hi - base))
            position = hi - base
        if position < c.BLOCK_SIZE:
            pieces.append(Zeros(position, c.BLOCK_SIZE))
        return Block(index, pieces)


def survey(source: Source, plan: Plan, *, allocate_all: bool = False,
           mapped: bool = True, digest: BackgroundDigest | None = None,
           progress: OnProgress = None) -> DataMap | None:
    """Fill ``plan`` with its allocated blocks; the ``DataMap`` of ``source``.

    Only the data extents are read, and of each piece that is not zero only
    its first page.  ``digest`` is fed every block on the way (its worker
    reads the data).  Without ``mapped`` (only the sizes are wanted) and
    without a digest, a layout that does not follow the data (a flat or
    fully allocated disk) reads nothing, and there is no map (None).
    """
    dynamic = isinstance(plan, DynamicPlan)
    if not (mapped or digest is not None or dynamic and not allocate_all):
        if dynamic:
            allocate_every_block(plan)
        return None
    data = DataMap()
    for _ in surveyed(source, plan, data, allocate_all=allocate_all,
                      digest=digest, progress=progress):
        pass
    return data


def allocate_every_block(plan: DynamicPlan) -> None:
    for index in range(plan.blocks):
        plan.add(index)


def surveyed(source: Source, plan: Plan, data: DataMap, *,
             allocate_all: bool = False,
             digest: BackgroundDigest | None = None,
             progress: OnProgress = None) -> Iterator[int]:
    """``survey`` a block at a time, filling ``plan`` and ``data``.

    After each block, yields the offset of the output file before which
    its layout and data are settled: a file written by offset can take
    those bytes at once, while the pass goes on.
    """
    dynamic = isinstance(plan, DynamicPlan)
    if dynamic and allocate_all:
        allocate_every_block(plan)
    allocate = dynamic and not allocate_all
    reader = BlockReader(source, c.BLOCK_SIZE, progress, need_data=False)
    for block in reader.data_blocks():
        if digest is not None:
            digest.add(block)
        if not block.is_zero:
            if allocate:
                plan.add(block.index)
            base = block.index * c.BLOCK_SIZE
            for piece in block.pieces:
                if type(piece) is not Zeros:
                    data.add(base + piece.start, base + piece.end)
        yield _settled(plan, block.index)


def _settled(plan: Plan, index: int) -> int:
    """Where the output is settled once block ``index`` was surveyed: the
    end of the last block placed up to it (dynamic), or of the block.
    """
    if isinstance(plan, DynamicPlan):
        placed = bisect.bisect_right(plan.indexes, index) - 1
        return plan.block_end(placed) * c.SECTOR_SIZE
    return min((index + 1) * c.BLOCK_SIZE, plan.virtual_size)
