"""What both commands share: one-line errors, exit codes, signal handling."""

from __future__ import annotations

from collections.abc import Callable, Sequence
import gc
import signal
from types import FrameType
from typing import Any

from diskimage_vhd.console.progress import break_line
from diskimage_vhd.console import startup
from diskimage_vhd.console import streams
from diskimage_vhd.errors import EXIT_FAILURE
from diskimage_vhd.errors import EXIT_INTERRUPTED
from diskimage_vhd.errors import EXIT_TERMINATED
from diskimage_vhd.errors import VhdError
from diskimage_vhd.posix import outcome
from diskimage_vhd.posix import signals


class Terminated(BaseException):
    """SIGTERM, raised as an exception so temporary files get cleaned up.

    A ``BaseException``, as ``KeyboardInterrupt`` is: no ``except
    Exception`` on the way up may turn it into another error (``enum``
    wraps what its class creation meets in a ``TypeError``, so a SIGTERM
    during start-up ended in a traceback).
    """


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    if signals.swallowed_here(frame):
        signals.deliver_later(_raise_terminated)
        return
    raise Terminated()


def run_command(prog: str, body: Callable[[Sequence[str] | None], int],
                argv: Sequence[str] | None = None) -> int:
    """Run a command body, turning every expected failure into one line.

    SIGINT and SIGTERM unwind through the body's ``with`` blocks, so an
    interrupted conversion removes its temporary output before exiting.
    Before and after the body a SIGINT keeps the default action that
    ``startup`` gave it: the process ends, with nothing to clean up.
    """
    saved: dict[int, Any] = {}
    outcome.forget()
    try:
        saved[signal.SIGTERM] = signal.signal(signal.SIGTERM,
                                              _raise_terminated)
        if startup.QUIETED:
            saved[signal.SIGINT] = signal.signal(signal.SIGINT,
                                                 signal.default_int_handler)
        try:
            return body(argv)
        except RuntimeError as error:
            raise _unwrapped(error) from None
    except VhdError as error:
        _say(f'{prog}: {error}')
        return error.exit_code
    except KeyboardInterrupt:
        _say(f'{prog}: interrupted; {outcome.summary()}')
        return EXIT_INTERRUPTED
    except Terminated:
        _say(f'{prog}: terminated; {outcome.summary()}')
        return EXIT_TERMINATED
    except BrokenPipeError:
        return EXIT_FAILURE
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def _unwrapped(error: RuntimeError) -> BaseException:
    """The SIGINT or SIGTERM inside ``error``, else ``error`` itself.

    Python 3.11 wraps whatever a class's ``__set_name__`` raises in a
    ``RuntimeError``, interrupts included: a signal that lands while an
    import makes an ``Enum`` (``uuid``'s ``SafeUUID``, say) arrives as
    that error, and must still end as an interrupt, in one line.
    """
    cause = error.__cause__
    if isinstance(cause, (KeyboardInterrupt, Terminated)):
        return cause
    return error


def _say(line: str) -> None:
    """One line on stderr, below a progress bar if one is drawn."""
    break_line()
    streams.say(line)


def finish_process(status: int) -> int:
    """Return ``status`` for ``sys.exit``, Python's shutdown made cheap.

    At exit the interpreter runs its cycle collector over every object the
    imports made, a measurable share of converting an empty 1 TiB disk
    (doc/source/architecture.rst).  ``gc.freeze`` puts them out of its
    sight; they are still freed, or left to the kernel, as the process
    ends.  Only for a process about to end: in a long-lived one, frozen
    cycles would stay.
    """
    gc.freeze()
    return status
