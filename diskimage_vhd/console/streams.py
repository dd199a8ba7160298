"""Standard output and error that fail end a command in one line.

A full device (``> /dev/full``: ENOSPC), a reader gone (EPIPE), a
non-blocking pipe that is full (EAGAIN) or an encoding that cannot show a
name (``PYTHONIOENCODING=ascii``) used to end in a traceback, sometimes
after the work was done.  ``guarded`` runs a command body so that such a
failure, once the body has kept or undone its work as it promises, is
said in one line on whichever stream still works, with a non-zero status.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import codecs
import errno
import fcntl
import io
import os
import sys

from diskimage_vhd.console.shown import shown
from diskimage_vhd.errors import describe_os_error
from diskimage_vhd.errors import EXIT_FAILURE
from diskimage_vhd.posix import outcome

ERRORS = 'diskimage-vhd-bytes'
Body = Callable[[Sequence[str] | None], int]


def _bytes_or_escaped(error: UnicodeError) -> tuple:
    """A byte a surrogate stands for (from a name that is not UTF-8, or a
    disk field) as that byte; any other character escaped (``\\xe9``).
    """
    if not isinstance(error, UnicodeEncodeError):
        raise error
    chunk = error.object[error.start:error.end]
    if all(0xDC80 <= ord(char) <= 0xDCFF for char in chunk):
        return bytes(ord(char) - 0xDC00 for char in chunk), error.end
    return codecs.backslashreplace_errors(error)


codecs.register_error(ERRORS, _bytes_or_escaped)


class _Strict(io.RawIOBase):
    """Standard output that is non-blocking, written so that EAGAIN is an
    error: Python's own file object drops what a full non-blocking pipe
    does not take, and the command would exit 0 with its output cut.
    Once failed, it takes nothing more (the exit's flush stays quiet).
    """

    def __init__(self, fd: int):
        super().__init__()
        self.fd = fd
        self.failed = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def write(self, data: bytes) -> int:  # type: ignore[override]
        view = memoryview(data)
        if self.failed:
            return len(view)
        done = 0
        try:
            while done < len(view):
                done += os.write(self.fd, view[done:])
        except OSError:
            self.failed = True
            raise
        return done


def _non_blocking(stream: object) -> bool:
    try:
        return bool(fcntl.fcntl(stream.fileno(), fcntl.F_GETFL)
                    & os.O_NONBLOCK)
    except (AttributeError, OSError, ValueError):
        return False


def configure() -> None:
    """Both streams print any text: raw bytes as bytes, the rest escaped;
    a non-blocking standard output fails on EAGAIN instead of losing text.
    """
    if sys.stdout is not None and _non_blocking(sys.stdout):
        sys.stdout.flush()
        sys.stdout = io.TextIOWrapper(
            io.BufferedWriter(_Strict(sys.stdout.fileno())),
            encoding=sys.stdout.encoding, errors=ERRORS)
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, 'reconfigure'):
            stream.reconfigure(errors=ERRORS)


def say(line: str) -> None:
    """One line on stderr, or on stdout if stderr cannot take it; what
    came from a name or a disk escaped, so it stays one line.
    """
    line = shown(line)
    for stream in (sys.stderr, sys.stdout):
        if stream is None:
            continue
        try:
            print(line, file=stream, flush=True)
            return
        except (OSError, ValueError):
            _silence(stream)


def _silence(stream: object) -> None:
    """Swap a failed stream for /dev/null, so that the interpreter's own
    flush at exit does not print "Exception ignored" over our line.
    """
    raw = getattr(getattr(stream, 'buffer', None), 'raw', None)
    if isinstance(raw, _Strict):
        raw.failed = True
    try:
        null = open(os.devnull, 'w')
    except OSError:
        return
    if stream is sys.stdout:
        sys.stdout = null
    elif stream is sys.stderr:
        sys.stderr = null


def guarded(prog: str, body: Body) -> Body:
    """``body``, with a failure of standard output made one line."""

    def run(argv: Sequence[str] | None) -> int:
        try:
            status = body(argv)
            if sys.stdout is not None:
                sys.stdout.flush()
            return status
        except BrokenPipeError:
            _silence(sys.stdout)
            return EXIT_FAILURE
        except OSError as error:
            if error.errno not in (errno.ENOSPC, errno.EAGAIN, errno.EIO,
                                   errno.EDQUOT, errno.EFBIG):
                raise
            _silence(sys.stdout)
            done = f'; {outcome.summary()}' if outcome.DONE else ''
            say(f'{prog}: standard output: {describe_os_error(error)}{done}')
            return EXIT_FAILURE
    return run
