"""Errors that carry the file they are about, for one-line messages.

Callers decide on the type and on the fields (``errno``, ``kind``), never on
the text, which is for people.
"""

from __future__ import annotations

import errno as errnos
import os

# Exit statuses, one for each kind of failure, both command lines alike.
EXIT_OK = 0
EXIT_FAILURE = 1  # the operating system refused (a missing file, a full disk)
EXIT_USAGE = 2  # the request itself cannot be done
EXIT_INVALID = errnos.EINVAL  # the input is no disk to read, as vhd-util exits
EXIT_INTERRUPTED = 128 + 2  # SIGINT, as a shell reports it
EXIT_TERMINATED = 128 + 15  # SIGTERM


class VhdError(Exception):
    """A problem with a named file, printed to the user as ``PATH: problem``.

    ``errno`` is set when the problem is the operating system's answer;
    ``kind`` is a stable code for the problem where one exists (the
    checker's codes for a disk that cannot be read, e.g. ``bat-past-end``).
    """

    exit_code = EXIT_FAILURE

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

    def amended(self, problem: str) -> VhdError:
        """The same error (its type, ``errno`` and ``kind``) saying
        ``problem`` instead: context added on the way up loses nothing.
        """
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.problem = problem
        Exception.__init__(clone, str(clone))
        return clone


class InvalidVhdError(VhdError):
    """The file is not a VHD this package can read, or is corrupt."""

    exit_code = EXIT_INVALID  # as vhd-util check exits


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

    exit_code = EXIT_INVALID  # as every refusal of an input


class UsageError(VhdError):
    """The request itself cannot be done (bad size, bad timestamp, ...)."""

    exit_code = EXIT_USAGE


def describe_os_error(error: OSError) -> str:
    """A short, lower-case reason for an OSError, without the errno prefix."""
    reason = error.strerror or str(error)
    return reason[:1].lower() + reason[1:]


def os_error(path: str | os.PathLike[str], error: OSError) -> VhdError:
    """The VhdError for an OSError about ``path``, errno kept."""
    return VhdError(path, describe_os_error(error),
                    errno=error.errno or errnos.EIO)
