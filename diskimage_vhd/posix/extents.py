"""Finding where a file holds data, without reading its holes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import errno
import os

Extent = tuple[int, int]  # [start, end) in bytes


def data_extents(fd: int, start: int, end: int) -> Iterator[Extent]:
    """Yield the ranges of ``[start, end)`` that may hold data.

    Uses ``SEEK_DATA``/``SEEK_HOLE``, so a hole is never read; where the file
    system cannot tell, the whole range is reported as data.
    """
    position = start
    while position < end:
        try:
            data = os.lseek(fd, position, os.SEEK_DATA)
        except OSError as error:
            if error.errno == errno.ENXIO:  # only a hole is left
                return
            if error.errno in (errno.EINVAL, errno.EOPNOTSUPP):
                yield position, end
                return
            raise
        if data >= end:
            return
        hole = os.lseek(fd, data, os.SEEK_HOLE)
        yield data, min(hole, end)
        position = hole


def blocks_touched(extents: Iterator[Extent], block_size: int
                   ) -> Iterator[tuple[int, list]]:
    """Group extents by block: yield ``(block_index, [(start, end), ...])``.

    Ranges are clipped to their block and given relative to the block start,
    in increasing block order, so a block's data can be gathered in one go.
    """
    current = -1
    pieces: list = []
    for start, end in extents:
        while start < end:
            index = start // block_size
            block_start = index * block_size
            piece_end = min(end, block_start + block_size)
            if index != current:
                if pieces:
                    yield current, pieces
                current, pieces = index, []
            pieces.append((start - block_start, piece_end - block_start))
            start = piece_end
    if pieces:
        yield current, pieces


def merged(extents: Iterable[Extent]) -> Iterator[Extent]:
    """Extents sorted by start, with those that touch or overlap joined:
    one run for each stretch of data, however many pieces described it.
    """
    run_start = run_end = -1
    for start, end in extents:
        if start <= run_end:
            run_end = max(run_end, end)
            continue
        if run_end > run_start:
            yield run_start, run_end
        run_start, run_end = start, end
    if run_end > run_start:
        yield run_start, run_end
