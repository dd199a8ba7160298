"""A sink's pieces put on a worker thread, so the copy overlaps the walk.

In the default mode the kernel's copy is nearly all a conversion costs,
and the Python that plans and walks the output (the planning pass's
probes, the render walk, the sink's own calls) comes on top of it, a few
tens of microseconds a block.  The kernel lets go of the GIL while it
copies, so a worker thread that puts the pieces lets that Python run on
the other core at the same time.  The pieces go over in batches, a few
batches at most ahead of the worker: each handover costs a wake-up, and
what is queued is what progress may run ahead of the disk.
"""

from __future__ import annotations

from collections.abc import Callable

from diskimage_vhd.make.render import Piece
from diskimage_vhd.make.render import Sink
from diskimage_vhd.make.worker import Worker

# Pieces handed over at a time, and batches queued at most.
BATCH = 16
AHEAD = 4
# Copies shorter than this are made by the caller, into a file placed by
# offset: the kernel is done with them before a handover would be, and
# each one on the worker is a round of the GIL between the two threads
# (measured: 25,000 extents of 4 KiB took 1.6 times as long through the
# worker).
HANDED_OVER_MIN = 256 * 1024

Put = Callable[[Piece], None]
Batch = list[tuple[Put, Piece]]


class BackgroundSink:
    """``sink``, its long copies put by a worker thread (every piece, in
    order, for a sink in file order).

    What the worker meets is raised in the caller at its next call; used as
    a context, the worker is stopped and waited for whatever happens, so it
    never writes to a file its caller has closed.
    """

    def __init__(self, sink: Sink):
        self.sink = sink
        self.in_order = sink.in_order
        self._batch: Batch = []
        self._worker: Worker[Batch] = Worker(self._put_all,
                                             'diskimage-vhd copy', AHEAD)

    def __enter__(self) -> BackgroundSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._worker.stop()

    def sectors(self, piece: Piece) -> None:
        self._small(self.sink.sectors, piece)

    def copy(self, piece: Piece) -> None:
        if piece.length < HANDED_OVER_MIN:
            self._small(self.sink.copy, piece)
        else:
            self._add(self.sink.copy, piece)

    def empty(self, piece: Piece) -> None:
        self._small(self.sink.empty, piece)

    def close(self, file_size: int) -> None:
        """Wait for every piece, then close the sink."""
        if self._batch:
            self._worker.put(self._batch)
            self._batch = []
        self._worker.finish()
        self.sink.close(file_size)

    def _small(self, put: Put, piece: Piece) -> None:
        """A few sectors, a hole or a short copy: a file placed by offset
        takes them from the caller at once (cheaper than a handover, and
        no two pieces overlap); one in file order, behind those queued.
        """
        if self.in_order:
            self._add(put, piece)
        else:
            put(piece)

    def _add(self, put: Put, piece: Piece) -> None:
        """Queue ``piece``: handed over once the batch is full, or at once
        if the worker has nothing left to do (it is never kept waiting).
        """
        self._batch.append((put, piece))
        if len(self._batch) >= BATCH or self._worker.idle:
            self._worker.put(self._batch)
            self._batch = []

    def _put_all(self, batch: Batch) -> None:
        """On the worker: one batch, given up on if the worker is stopped."""
        for put, piece in batch:
            if not self._worker.going:
                return
            put(piece)
