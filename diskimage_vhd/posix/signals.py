"""SIGINT and SIGTERM held back while a few system calls commit a change.

Python raises ``KeyboardInterrupt`` (or our ``Terminated``) between any two
bytecodes: right after a ``rename`` has succeeded, say, before the code can
note that it did, so a clean-up would then undo the wrong thing or report
"nothing was written" over a finished output.  Inside ``held()`` the two
signals wait in the kernel; the code asks ``pending()`` before each step it
could still undo, and once the last step is done, ``discard_pending()``:
the work finished, and the signal came too late to stop it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
import signal
import threading
from types import FrameType

HELD = frozenset((signal.SIGINT, signal.SIGTERM))


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Block SIGINT and SIGTERM; on leaving, a pending one is delivered."""
    if threading.current_thread() is not threading.main_thread():
        # Python runs handlers in the main thread only: nothing to hold.
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def pending() -> bool:
    """Whether a held SIGINT or SIGTERM is waiting: time to roll back."""
    return bool(signal.sigpending() & HELD)


def discard_pending() -> None:
    """Drop held signals that arrived once the change was committed."""
    while pending():
        signal.sigtimedwait(HELD, 0)


def swallowed_here(frame: FrameType | None) -> bool:
    """Whether an exception a signal handler raises in ``frame`` would be
    printed and dropped by Python ("Exception ignored in ..."): inside a
    finaliser (``__del__``) or importlib's module-lock weakref callback.
    The signal would be lost and a traceback shown.
    """
    while frame is not None:
        code = frame.f_code
        if code.co_name == '__del__' or (
                code.co_name == 'cb' and 'importlib' in code.co_filename):
            return True
        frame = frame.f_back
    return False


def deliver_later(handler: Callable[[int, FrameType | None], object]
                  ) -> None:
    """Run ``handler`` again a millisecond from now (on SIGALRM), out of
    the place where its exception would be dropped.
    """
    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.001)
