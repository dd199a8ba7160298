"""Errors that carry the file they are about, for one-line messages.

Callers decide on the type and on the fields (``errno``, ``kind``), never on
the text, which is for people.
"""

from __future__ import annotations

import errno as errnos
import os


class VhdError(Exception):
    """A problem with a named file, printed to the user as ``PATH: problem``.

    ``errno`` is set when the problem is the operating system's answer;
    ``kind`` is a stable code for the problem where one exists (the
    checker's codes for a disk that cannot be read, e.g. ``bat-past-end``).
    """

    exit_code = 1

    def __init__(self, path: str | os.PathLike[str] | None, problem: str, *,
                 errno: int | None = None, kind: str | None = None):
        self.path = os.fspath(path) if path is not None else None
        self.problem = problem
        self.errno = errno
        self.kind = kind
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


class NotRegularFileError(VhdError):
    """A directory, FIFO, socket or character device where a disk was named.

    ``errno`` is EISDIR for a directory and EINVAL for the others, as libvhd
    reports them.
    """


class EmptyDiskError(VhdError):
    """The input holds no disk at all (0 bytes): refused like any other
    input that cannot be converted.
    """

    exit_code = 22  # EINVAL, as every refusal of an input


class UsageError(VhdError):
    """The request itself cannot be done (bad size, bad timestamp, ...)."""

    exit_code = 2


def describe_os_error(error: OSError) -> str:
    """A short, lower-case reason for an OSError, without the errno prefix."""
    reason = error.strerror or str(error)
    return reason[:1].lower() + reason[1:]


def os_error(path: str | os.PathLike[str], error: OSError) -> VhdError:
    """The VhdError for an OSError about ``path``, errno kept."""
    return VhdError(path, describe_os_error(error),
                    errno=error.errno or errnos.EIO)
