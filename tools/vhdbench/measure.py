"""Running a tool as a child process: wall time and the child's peak RSS."""

from __future__ import annotations

import dataclasses
import os
import shutil
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
            child = subprocess.Popen(wrapped, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=errors,
                                     env=env, cwd=cwd)
            try:
                _, status, usage = os.wait4(child.pid, 0)
            except BaseException:  # interrupted: leave no tool running
                child.kill()
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


def settle(cold: bool = False) -> None:
    """Flush every dirty page, so no run pays for an earlier one's writeback;
    ``cold`` then drops the page cache too (root only), so the run reads
    its input from the disk."""
    os.sync()
    if cold:
        with open(DROP_CACHES, 'w') as drop:
            drop.write('3\n')


def can_drop_caches() -> bool:
    """Whether ``settle(cold=True)`` can work: root, and the knob exists."""
    return os.geteuid() == 0 and os.access(DROP_CACHES, os.W_OK)
