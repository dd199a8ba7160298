"""What a check finds: typed problems, not message text.

A rule first yields a ``Fault`` (a stable code and vhd-util's words for the
field at fault); the check that ran it places it in context as a
``Problem``: a stable code, the exact line vhd-util prints, its exit
status, and facts for anyone who wants more than vhd-util's terse line.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
import errno
from typing import Any

from diskimage_vhd.format.printable import printable


@dataclasses.dataclass(frozen=True)
class Fault:
    """One rule broken: ``code`` for programs, ``text`` as vhd-util says it."""

    code: str
    text: str


@dataclasses.dataclass(frozen=True)
class Problem:
    """The first problem of a disk, as ``vhd-util check`` reports it."""

    code: str  # stable, e.g. 'primary-footer-checksum', 'block-overlap'
    message: str  # exactly the line vhd-util prints
    errno: int = errno.EINVAL  # vhd-util's exit status for it
    detail: str | None = None  # more than vhd-util says, for people
    facts: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        # A message quotes what the disk says (a parent name, a locator's
        # path): one line of plain characters, whoever prints it.
        object.__setattr__(self, 'message', printable(self.message))
        if self.detail is not None:
            object.__setattr__(self, 'detail', printable(self.detail))

    def to_dict(self) -> dict:
        return {'code': self.code, 'message': self.message,
                'errno': self.errno, 'detail': self.detail,
                'facts': dict(self.facts)}


class ProblemFound(Exception):
    """Raised by a rule group to stop at the first problem, as vhd-util does."""

    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


def stop(code: str, message: str, *, errno_code: int = errno.EINVAL,
         detail: str | None = None, **facts: Any) -> ProblemFound:
    """The exception that reports ``Problem(code, message, ...)``."""
    return ProblemFound(Problem(code, message, errno_code, detail, facts))
