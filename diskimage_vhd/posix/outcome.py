"""What a command has already done, for the line a late signal prints.

A SIGINT or SIGTERM after an output was renamed into place (while the
command still prints its summary, or checks the output) must not say
"nothing was written": the output is there, complete.  Nor, after
``vhd-util convert`` renamed IN to ``IN.bak``, may it leave the user to
guess where the input went.
"""

from __future__ import annotations

DONE: list[str] = []
NOTHING = 'nothing was written'


# Facts kept: a command makes one or two; a process that calls the API
# for ever (no command to forget them) must not grow without bound.
KEPT = 8


def record(fact: str) -> None:
    """Note a finished step, in words (``out.vhd is complete``)."""
    DONE.append(fact)
    del DONE[:-KEPT]


def forget() -> None:
    """A new command begins (the API may run several in one process)."""
    DONE.clear()


def summary() -> str:
    """What is true now: the finished steps, or that nothing was written."""
    return '; '.join(DONE) if DONE else NOTHING
