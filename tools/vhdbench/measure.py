"""Running a tool as a child process: wall time and the child's peak RSS."""

from __future__ import annotations

import dataclasses
import mmap
import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Dict, List, Optional, Sequence

Command = Sequence[str]
# A process started by this (large) Python process inherits its peak RSS in
# its own, so each tool is started by GNU time, a small process whose wait4
# sees the tool's own peak.
GNU_TIME = shutil.which('time', path='/usr/bin:/bin')
DROP_CACHES = '/proc/sys/vm/drop_caches'
MEMINFO = '/proc/meminfo'
# madvise(2): fault a mapping's pages in, writable (Linux 5.14); Python's
# mmap module names it only where it was built against such headers.
MADV_POPULATE_WRITE = getattr(mmap, 'MADV_POPULATE_WRITE', 23)
# The most memory a reserve holds.  Measured here: 2 GiB let go and taken
# again, even 3 s later, costs 0.36 s a GiB; 4 GiB taken again 3 s later
# costs 9.5 s, because the host takes back what the guest leaves free
# beyond about 2 GiB.  So a reserve holds what a run writes, no more:
# with 4 GiB, row a (1.5 GiB written) found cp at 0.73 s a run, against
# 0.62 s with 2 GiB in the full run before.  A run that writes more comes
# to the released memory before the host does: row d (a copy of the
# disk, then the conversions, 3 GiB) took 1.7-2.0 s a run with 4 GiB,
# and 5.5-17.5 s with 2 GiB, whichever tool.
LARGEST_RESERVE = 4 << 30


class ToolFailed(RuntimeError):
    """A measured command exited non-zero; the benchmark must not go on."""


@dataclasses.dataclass
class Sample:
    """One timed run of a tool (possibly several commands in sequence)."""

    seconds: float
    peak_rss: int  # bytes, the largest of the commands' own peaks


def run_timed(commands: List[Command], env: Optional[Dict[str, str]] = None,
              cwd: Optional[str] = None) -> Sample:
    """Run ``commands`` one after another, timing the whole sequence.

    The peak RSS is the largest of the commands' own, from ``wait4`` in GNU
    time when it is installed; without it, from this process's ``wait4``,
    which can only give an upper bound (see ``GNU_TIME``).
    """
    peak = 0
    with tempfile.NamedTemporaryFile() as errors, \
            tempfile.NamedTemporaryFile(mode='r') as rss:
        start = time.perf_counter()
        for command in commands:
            wrapped = list(command)
            if GNU_TIME:
                wrapped = [GNU_TIME, '-f', '%M', '-o', rss.name, *wrapped]
            # A group of its own, so that an interrupted run can stop the
            # tool itself and not only GNU time, its parent.
            child = subprocess.Popen(wrapped, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=errors,
                                     env=env, cwd=cwd, start_new_session=True)
            try:
                _, status, usage = os.wait4(child.pid, 0)
            except BaseException:  # interrupted: leave no tool running
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                raise
            child.returncode = os.waitstatus_to_exitcode(status)
            kib = usage.ru_maxrss  # Linux reports KiB
            if GNU_TIME:
                rss.seek(0)
                kib = int(rss.read().split()[-1])
            peak = max(peak, kib * 1024)
            if child.returncode != 0:
                errors.seek(0)
                text = errors.read().decode(errors='replace').strip()
                raise ToolFailed(f'{" ".join(command)} exited '
                                 f'{child.returncode}: {text}')
        seconds = time.perf_counter() - start
    return Sample(seconds, peak)


def check_call(command: Command) -> str:
    """Run an untimed helper (``qemu-img compare``), failing loudly."""
    done = subprocess.run(list(command), capture_output=True, text=True)
    if done.returncode != 0:
        raise ToolFailed(f'{" ".join(command)} exited {done.returncode}: '
                         f'{(done.stdout + done.stderr).strip()}')
    return done.stdout


def remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def settle(evict: Sequence[str] = ()) -> None:
    """Flush every dirty page, so no run pays for an earlier one's writeback;
    then take the files in ``evict`` out of the page cache, so the run
    reads them from the disk.
    """
    os.sync()
    for path in evict:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def drop_caches() -> bool:
    """Empty the whole page cache (root only); whether it could."""
    os.sync()
    try:
        with open(DROP_CACHES, 'w') as drop:
            drop.write('3\n')
    except OSError:
        return False
    return True


class MemoryReserve:
    """The same free memory for every run: held between runs, let go just
    before each.

    Some hypervisors take back the memory a guest leaves free (virtio-balloon
    free page reporting, as on this benchmark's machines), and a page the
    guest touches there again costs a fault on the host.  Measured here: a
    GiB of such memory costs 7-15 s of system time, the same GiB freed and
    taken again at once 0.33 s.  A run that came after a slow untimed step
    found its memory taken back and took up to ten times as long as the
    same command a moment later, whichever tool it was.  Each run's output
    is removed as soon as it ends and its memory taken into the reserve,
    which is let go just before the next run: every run finds the same
    recently used free memory.  Where nothing takes memory back it only
    costs the zeroing of the reserve, untimed.
    """

    def __init__(self) -> None:
        self.size = 0
        self._held: Optional[mmap.mmap] = None

    def resize(self, size: int) -> None:
        """Hold ``size`` bytes from now on, at most ``LARGEST_RESERVE`` and a third
        of the memory available (the page cache keeps room).
        """
        self.release()
        self.size = min(size, LARGEST_RESERVE, available_memory() // 3)

    def hold(self) -> None:
        """Take the reserve's pages, each one written."""
        if self._held is not None or self.size <= 0:
            return
        held = mmap.mmap(-1, self.size)
        try:
            held.madvise(MADV_POPULATE_WRITE)
        except OSError:  # an older kernel: write a byte in each page
            for offset in range(0, self.size, mmap.PAGESIZE):
                held[offset] = 1
        self._held = held

    def release(self) -> None:
        """Give the pages back to the kernel, free, for the run to take."""
        if self._held is not None:
            self._held.close()
            self._held = None


def available_memory() -> int:
    """MemAvailable, in bytes (0 where it cannot be read)."""
    try:
        with open(MEMINFO) as meminfo:
            for line in meminfo:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
