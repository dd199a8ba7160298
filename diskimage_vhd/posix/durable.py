"""The flushes of the durable mode (``--sync``), written once.

By default an output is made whole-or-absent by an atomic rename alone,
which holds against the process dying at any instant but not against a
power cut: the kernel may not have written the data, or the new name, to
the disk yet.  Asked for durability, the data is flushed before the name
is given and the directory after, so the name survives a power cut only
together with the whole file.
"""

from __future__ import annotations

import os
import stat

DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def flush_data(fd: int) -> None:
    """The file's data and inode on the disk (``fsync``)."""
    os.fsync(fd)


def flush_directory(directory: str) -> None:
    """The directory's entries (a rename into it) on the disk."""
    fd = os.open(directory, DIRECTORY_FLAGS)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def flush_if_file(fd: int) -> None:
    """Flush ``fd`` if it is a regular file: a pipe or a terminal holds
    nothing a power cut could lose.
    """
    if stat.S_ISREG(os.fstat(fd).st_mode):
        flush_data(fd)
