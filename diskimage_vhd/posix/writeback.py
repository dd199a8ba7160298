"""Starting an output's write-out early, so the closing fsync has little left.

In the durable mode (``--sync``) the output is flushed before it is given
its name (``atomic.py``).
Left to the kernel, the dirty pages wait until that ``fsync``, which then
writes everything while the conversion sits idle; asking for the write-out
of each finished stretch lets the disk work while the next one is copied.
Without that flush, asking only costs: the kernel writes the pages out in
its own time, and the conversion need not wait for the disk at all.
"""

from __future__ import annotations

import os
import threading

# Large enough to keep requests big, small enough to start the disk early.
WINDOW = 16 * 1024 * 1024


class Writeback:
    """Push out the dirty pages of a file written front to back, a window
    of written bytes at a time.

    ``posix_fadvise(DONTNEED)`` starts the write-out of the dirty pages in
    its range without waiting for it (it also drops pages already clean,
    which a written-once image does not miss).  The window counts bytes
    written, not the span of offsets they lie in: a sparse output (many
    small extents, a block each) would otherwise ask for a write-out of a
    few pages every few blocks (measured: 4,000 calls, 11 s of 38).  Where
    it is not supported it is simply not asked again; with ``sync`` false
    (no flush to come) it is never asked.
    """

    def __init__(self, fd: int, sync: bool, window: int = WINDOW):
        self.fd = fd
        self.window = window
        self.start = -1
        self.end = 0
        self.pending = 0
        self.enabled = sync and hasattr(os, 'posix_fadvise')
        self._lock = threading.Lock()

    def wrote(self, offset: int, length: int) -> None:
        """Note ``length`` bytes written at ``offset``, from any thread (a
        conversion's long copies are made on a worker, the short ones by
        the caller, a little ahead of it).
        """
        if not self.enabled:
            return
        with self._lock:
            self.start = offset if self.start < 0 else min(self.start, offset)
            self.end = max(self.end, offset + length)
            self.pending += length
            if self.pending >= self.window:
                self.push()

    def push(self) -> None:
        """Start the write-out of what was noted since the last push."""
        if self.enabled and self.start >= 0 and self.end > self.start:
            try:
                os.posix_fadvise(self.fd, self.start, self.end - self.start,
                                 os.POSIX_FADV_DONTNEED)
            except OSError:
                self.enabled = False
        self.start = -1
        self.pending = 0
