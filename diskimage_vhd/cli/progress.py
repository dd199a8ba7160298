"""Progress on stderr: a live bar on a terminal, a line now and then in a log."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

BAR_WIDTH = 30
TTY_INTERVAL = 0.1
LOG_INTERVAL = 5.0


class Progress:
    """Report how far a long job is; callable with the bytes done so far.

    DIB logs are not terminals, so there it prints a plain percentage line
    every few seconds instead of redrawing a bar.
    """

    def __init__(self, label: str, total: int,
                 stream: Optional[TextIO] = None,
                 interval: Optional[float] = None):
        self.label = label
        self.total = max(total, 1)
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, 'isatty', lambda: False)())
        self.interval = interval if interval is not None else (
            TTY_INTERVAL if self.live else LOG_INTERVAL)
        self._started = time.monotonic()
        self._last = self._started
        self._done = 0

    def __call__(self, done: int) -> None:
        self._done = min(done, self.total)
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._show()

    def _percent(self) -> int:
        return self._done * 100 // self.total

    def _show(self) -> None:
        percent = self._percent()
        if self.live:
            filled = BAR_WIDTH * percent // 100
            bar = '#' * filled + '-' * (BAR_WIDTH - filled)
            self.stream.write(f'\r{self.label} [{bar}] {percent:3d}%')
        else:
            self.stream.write(f'{self.label}: {percent}%\n')
        self.stream.flush()

    def finish(self) -> None:
        """Show 100% and end the line, once the job is done."""
        self._done = self.total
        if self.live:
            self._show()
            self.stream.write('\n')
            self.stream.flush()
        elif time.monotonic() - self._started >= self.interval:
            self._show()
