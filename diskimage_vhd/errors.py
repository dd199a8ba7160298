"""Errors that carry the file they are about, for one-line messages."""

from __future__ import annotations

import os


class VhdError(Exception):
    """A problem with a named file, printed to the user as ``PATH: problem``."""

    exit_code = 1

    def __init__(self, path: str | os.PathLike[str] | None, problem: str):
        self.path = os.fspath(path) if path is not None else None
        self.problem = problem
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.path is None:
            return self.problem
        return f'{self.path}: {self.problem}'


class InvalidVhdError(VhdError):
    """The file is not a VHD this package can read, or is corrupt."""

    exit_code = 22  # EINVAL, as vhd-util check exits


class NotAVhdError(InvalidVhdError):
    """No footer cookie anywhere: the file is most likely a raw image."""


class UsageError(VhdError):
    """The request itself cannot be done (bad size, bad timestamp, ...)."""

    exit_code = 2


def describe_os_error(error: OSError) -> str:
    """A short, lower-case reason for an OSError, without the errno prefix."""
    reason = error.strerror or str(error)
    return reason[:1].lower() + reason[1:]
