"""Imported first by both commands: a SIGINT during start-up ends quietly.

Until ``run_command`` takes over, Python turns a SIGINT into a
``KeyboardInterrupt`` traceback out of whichever module was being imported.
Nothing has been done yet, so the signal's default action (the process ends
with the status of SIGINT, as SIGTERM's default already does) says all
there is to say.  ``run_command`` puts Python's handler back for its body.
"""


try:  # CPython's built-in core of ``signal``: nothing to import first
    import _signal as signal
except ImportError:  # pragma: no cover
    import signal  # type: ignore[no-redef]


def _quiet() -> bool:
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return False  # ignored by the parent, or someone's own handler
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    except ValueError:  # imported outside the main thread: leave it
        return False
    return True


QUIETED = _quiet()
