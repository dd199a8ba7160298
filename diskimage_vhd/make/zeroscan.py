"""Whether ranges of a source read as zeros, scanned on two cores.

Written zeros must be read in full to be told from data: 2 GiB of them
cost 0.2 s of copying out of the page cache and 0.1 s of comparing, on
one core.  The copy happens in ``preadv``, which releases the GIL, so a
second thread scanning the far half takes that half off the caller's
time, as qemu-img keeps its reads on worker threads.  The half is the
far half of the bytes of several ranges at once (the reader hands over a
batch of blocks): handing the worker a block at a time cost as much in
waking it as it saved (measured: 2 GiB of written zeros, 1,024 handovers,
0.34 s; 128 handovers, see the benchmark's row z).  Each side reads into
its own buffer, small enough to stay in the CPU's cache until it is
compared, and compares with ``memcmp``, which stops at the first byte
that is not zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import os
import queue
import threading

from diskimage_vhd.posix.io import read_buffer

ReadInto = Callable[[int, memoryview], None]
# A part of a range: (the range's index, offset, length).
Part = tuple[int, int, int]

# Batches shorter than this are scanned by the caller alone: handing half
# of one to the worker and waiting for it costs more than it saves.
SPLIT_MIN = 1 << 20


class _Verdicts:
    """Each range's verdict, shared by both sides: a side stops scanning a
    range as soon as either finds data in it, and both stop at ``stop``.
    """

    def __init__(self, count: int):
        self.zero = [True] * count
        self.stopped = False

    def scan(self, read_into: ReadInto, zeros: bytes, buffer: memoryview,
             parts: Sequence[Part]) -> None:
        """Read and compare ``parts`` a buffer at a time."""
        for index, offset, length in parts:
            for lo in range(0, length, len(buffer)):
                if self.stopped or not self.zero[index]:
                    break
                view = buffer[:min(len(buffer), length - lo)]
                read_into(offset + lo, view)
                if not zeros.startswith(view):
                    self.zero[index] = False


class _Handover:
    """The far half given to the worker, and its outcome handed back."""

    def __init__(self, verdicts: _Verdicts, scan_far: Callable[[], None]):
        self.verdicts = verdicts
        self.scan_far = scan_far
        self._error: BaseException | None = None
        # An Event, not a held Lock: waiting twice (a signal that lands just
        # after the first wait returned, then ``stop``) must not deadlock.
        self._done = threading.Event()

    def run(self) -> None:
        """The worker's part."""
        try:
            self.scan_far()
        except BaseException as error:  # the caller's to raise
            self._error = error
        finally:
            self._done.set()

    def wait(self) -> None:
        """Return once the worker is done; raise what it met."""
        try:
            self._done.wait()
        except BaseException:  # a signal: stop the worker, wait, go on
            self.stop()
            raise
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """Stop the far side and wait for it, its outcome dropped: never
        leave the worker reading a file its caller is about to close.
        """
        self.verdicts.stopped = True
        self._done.wait()


def halves(ranges: Sequence[tuple[int, int]], cut: int
           ) -> tuple[list[Part], list[Part]]:
    """``ranges`` as parts, split at byte ``cut`` of their total: the near
    parts before it, the far parts from it (a range across it is split).
    """
    near: list[Part] = []
    far: list[Part] = []
    position = 0
    for index, (offset, length) in enumerate(ranges):
        if position + length <= cut:
            near.append((index, offset, length))
        elif position >= cut:
            far.append((index, offset, length))
        else:
            head = cut - position
            near.append((index, offset, head))
            far.append((index, offset + head, length - head))
        position += length
    return near, far


class ZeroScanner:
    """Scans ranges of one source for zeros, with buffers of ``chunk``."""

    def __init__(self, read_into: ReadInto, chunk: int):
        self._read_into = read_into
        self._zeros = bytes(chunk)
        self._near = read_buffer(chunk)
        self._far = read_buffer(chunk)

    def is_zero(self, offset: int, length: int) -> bool:
        """Whether ``length`` bytes from ``offset`` read as zeros."""
        return self.are_zero([(offset, length)])[0]

    def are_zero(self, ranges: Sequence[tuple[int, int]]) -> list[bool]:
        """For each ``(offset, length)``, whether it reads as zeros.

        Ranges of ``SPLIT_MIN`` or more in all are split by their bytes:
        the worker thread scans the far half while the caller scans the
        near one.
        """
        verdicts = _Verdicts(len(ranges))
        read_into, zeros, chunk = self._read_into, self._zeros, len(self._near)
        total = sum(length for _, length in ranges)
        if total < SPLIT_MIN:
            parts, _ = halves(ranges, total)
            verdicts.scan(read_into, zeros, self._near, parts)
            return verdicts.zero
        near, far = halves(ranges, total // 2 // chunk * chunk)
        handover = _Handover(verdicts, lambda: verdicts.scan(
            read_into, zeros, self._far, far))
        _WORKER.submit(handover)
        try:
            verdicts.scan(read_into, zeros, self._near, near)
        except BaseException:
            handover.stop()
            raise
        handover.wait()
        return verdicts.zero


class _Worker:
    """One daemon thread a process, started on first use (and again in a
    forked child, which has no thread but the one that forked).
    """

    def __init__(self) -> None:
        self._pid: int | None = None
        self._inbox: queue.SimpleQueue[_Handover] | None = None
        self._lock = threading.Lock()

    def submit(self, handover: _Handover) -> None:
        with self._lock:
            if self._pid != os.getpid() or self._inbox is None:
                self._inbox = queue.SimpleQueue()
                threading.Thread(target=self._serve, args=(self._inbox,),
                                 name='diskimage-vhd zero scan',
                                 daemon=True).start()
                self._pid = os.getpid()
        self._inbox.put(handover)

    @staticmethod
    def _serve(inbox: queue.SimpleQueue[_Handover]) -> None:
        while True:
            inbox.get().run()


_WORKER = _Worker()
