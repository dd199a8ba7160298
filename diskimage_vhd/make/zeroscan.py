"""Whether a range of a source reads as zeros, scanned on two cores.

Written zeros must be read in full to be told from data: 2 GiB of them
cost 0.2 s of copying out of the page cache and 0.1 s of comparing, on
one core.  The copy happens in ``preadv``, which releases the GIL, so a
second thread scanning the far half of each long range takes that half
off the caller's time, as qemu-img keeps its reads on worker threads.
Each side reads into its own buffer, small enough to stay in the CPU's
cache until it is compared, and compares with ``memcmp``, which stops at
the first byte that is not zero.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from diskimage_vhd.posix.io import read_buffer

if TYPE_CHECKING:
    from collections.abc import Callable

    ReadInto = Callable[[int, memoryview], None]

# Ranges shorter than this are scanned by the caller alone: handing half
# of one to the worker and waiting for it costs more than it saves.
SPLIT_MIN = 1 << 20


def _scan(read_into: ReadInto, zeros: bytes, buffer: memoryview,
          offset: int, length: int, split: _Split | None = None) -> bool:
    """Read and compare a buffer at a time: False at the first byte that
    is not zero, or as soon as the other side of ``split`` found one.
    """
    for lo in range(0, length, len(buffer)):
        if split is not None and split.found_data:
            return False
        view = buffer[:min(len(buffer), length - lo)]
        read_into(offset + lo, view)
        if not zeros.startswith(view):
            if split is not None:
                split.found_data = True
            return False
    return True


class _Split:
    """A range scanned from both ends: the flag both sides watch, and the
    far side's outcome, which the worker hands over through ``wait``.
    """

    def __init__(self) -> None:
        self.found_data = False
        self._far_zero = False
        self._error: BaseException | None = None
        # An Event, not a held Lock: waiting twice (a signal that lands just
        # after the first wait returned, then ``stop``) must not deadlock.
        self._done = threading.Event()

    def run_far(self, scan_far: Callable[[], bool]) -> None:
        """The worker's part."""
        try:
            self._far_zero = scan_far()
        except BaseException as error:  # the caller's to raise
            self._error = error
        finally:
            self._done.set()

    def wait(self) -> bool:
        """The far side's verdict, once the worker is done with it."""
        try:
            self._done.wait()
        except BaseException:  # a signal: stop the worker, wait, go on
            self.stop()
            raise
        if self._error is not None:
            raise self._error
        return self._far_zero

    def stop(self) -> None:
        """Stop the far side and wait for it, its outcome dropped: never
        leave the worker reading a file its caller is about to close.
        """
        self.found_data = True
        self._done.wait()


class ZeroScanner:
    """Scans ranges of one source for zeros, with buffers of ``chunk``."""

    def __init__(self, read_into: ReadInto, chunk: int):
        self._read_into = read_into
        self._zeros = bytes(chunk)
        self._near = read_buffer(chunk)
        self._far = read_buffer(chunk)

    def is_zero(self, offset: int, length: int) -> bool:
        """Whether ``length`` bytes from ``offset`` read as zeros.

        A range of ``SPLIT_MIN`` or more is split: the worker thread scans
        the far half while the caller scans the near one.
        """
        read_into, zeros, chunk = self._read_into, self._zeros, len(self._near)
        if length < SPLIT_MIN:
            return _scan(read_into, zeros, self._near, offset, length)
        near = length // 2 // chunk * chunk
        split = _Split()
        _WORKER.submit(split, lambda: _scan(read_into, zeros, self._far,
                                            offset + near, length - near,
                                            split))
        try:
            near_zero = _scan(read_into, zeros, self._near, offset, near,
                              split)
        except BaseException:
            split.stop()
            raise
        return split.wait() and near_zero


class _Worker:
    """One daemon thread a process, started on first use (and again in a
    forked child, which has no thread but the one that forked).
    """

    def __init__(self) -> None:
        self._pid: int | None = None
        self._inbox = None
        self._lock = threading.Lock()

    def submit(self, split: _Split, scan_far: Callable[[], bool]) -> None:
        with self._lock:
            if self._pid != os.getpid():
                import queue  # here: only long ranges of zeros need it
                self._inbox = queue.SimpleQueue()
                threading.Thread(target=self._serve, args=(self._inbox,),
                                 name='diskimage-vhd zero scan',
                                 daemon=True).start()
                self._pid = os.getpid()
        self._inbox.put((split, scan_far))

    @staticmethod
    def _serve(inbox: object) -> None:
        while True:
            split, scan_far = inbox.get()
            split.run_far(scan_far)


_WORKER = _Worker()
