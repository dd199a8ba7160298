"""Progress on stderr: a live bar on a terminal, a line now and then in a log."""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

from diskimage_vhd.sizes import format_size

BAR_WIDTH = 30
MIN_BAR_WIDTH = 10
TTY_INTERVAL = 0.1
LOG_INTERVAL = 5.0
# When the terminal does not say its width (a bare pty says 0).
DEFAULT_COLUMNS = 80
ELLIPSIS = '...'
# The rate is shown once the job has run this long (a first figure,
# taken over a few milliseconds, would mislead).
MIN_RATE_SECONDS = 1.0

# The bar whose line is open on the terminal: anything else printed to the
# terminal must end that line first (break_line), or it lands on the bar.
_open_line: Progress | None = None


def break_line() -> None:
    """End the bar's line, if one is open, before another message."""
    global _open_line
    if _open_line is not None:
        bar, _open_line = _open_line, None
        bar.stream.write('\n')
        bar.stream.flush()


def terminal_columns(stream: TextIO) -> int:
    """The width of the terminal behind ``stream``, read at each redraw."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0
    return columns or DEFAULT_COLUMNS


def shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: the first word (the verb)
    stays, and so does the end of the rest (the path, with the file's name);
    the cut is marked with an ellipsis.
    """
    if len(text) <= width:
        return text
    verb, space, path = text.partition(' ')
    if not space:
        verb, path = '', text
    head = verb + space
    room = width - len(head) - len(ELLIPSIS)
    if room < 1:  # no room for the verb: keep the end
        return text[len(text) - width:] if width > 0 else ''
    return head + ELLIPSIS + path[len(path) - room:]


def rate_and_time_left(done: int, total: int, seconds: float) -> str:
    """``45.2 MiB/s, 0:12 left`` after ``seconds`` of work; '' until a
    rate can be told (nothing done, or too soon).
    """
    rate = done / seconds if seconds >= MIN_RATE_SECONDS else 0
    if rate < 1:
        return ''
    text = f'{format_size(int(rate))}/s'
    if done < total:
        left = int((total - done) / rate + 0.5)
        minutes, secs = divmod(left, 60)
        hours, minutes = divmod(minutes, 60)
        clock = (f'{hours}:{minutes:02d}:{secs:02d}' if hours
                 else f'{minutes}:{secs:02d}')
        text += f', {clock} left'
    return text


def bar_line(label: str, percent: int, columns: int, stats: str = '') -> str:
    """One bar line that fits in ``columns - 1`` characters, so it never
    wraps (writing the last column leaves some terminals about to wrap).

    ``stats`` (the rate and time left) follow the figure only where the
    whole label and a bar of full width fit too: they never cost the file
    its name.
    """
    room = columns - 1
    figure = f'{percent:3d}%'
    if stats and len(label) + len(figure) + len(stats) + 5 + BAR_WIDTH <= room:
        return f'{bar_line(label, percent, columns - len(stats) - 1)} {stats}'
    # label + ' [' + bar + '] ' + figure
    bar_width = min(BAR_WIDTH, room - len(label) - len(figure) - 4)
    if bar_width < MIN_BAR_WIDTH:
        bar_width = MIN_BAR_WIDTH
        label_room = room - bar_width - len(figure) - 4
        if label_room < len(ELLIPSIS) + 1:  # too narrow for a bar at all
            line = shorten(label, room - len(figure) - 1) + ' ' + figure
            return line[max(len(line) - room, 0):] if room > 0 else ''
        label = shorten(label, label_room)
    filled = bar_width * percent // 100
    bar = '#' * filled + '-' * (bar_width - filled)
    return f'{label} [{bar}] {figure}'


class Progress:
    """Report how far a long job is; callable with the bytes done so far.

    DIB logs are not terminals, so there it prints a plain percentage line
    every few seconds instead of redrawing a bar.
    """

    def __init__(self, label: str, total: int,
                 stream: TextIO | None = None,
                 interval: float | None = None):
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
        global _open_line
        percent = self._percent()
        if self.live:
            columns = terminal_columns(self.stream)
            stats = rate_and_time_left(self._done, self.total,
                                       time.monotonic() - self._started)
            line = bar_line(self.label, percent, columns, stats)
            # Redrawn in place; the padding wipes a longer previous line.
            self.stream.write('\r' + line.ljust(columns - 1))
            _open_line = self
        else:
            self.stream.write(f'{self.label}: {percent}%\n')
        self.stream.flush()

    def finish(self) -> None:
        """Show 100% and end the line, once the job is done."""
        self._done = self.total
        if self.live:
            self._show()
            break_line()
        elif time.monotonic() - self._started >= self.interval:
            self._show()
