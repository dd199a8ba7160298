"""File-descriptor plumbing that the reader, the sources and libvhd's model share."""

from __future__ import annotations

import errno
import os
from typing import Any

# copy_file_range errors that mean "not here": fall back to read and write.
NO_COPY = frozenset((errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP,
                     errno.EBADF, errno.ETXTBSY))


class OpenFile:
    """An object owning one file descriptor: closed once, usable in ``with``."""

    fd: int  # set by the subclass; -1 once closed

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def file_size(fd: int) -> int:
    """Size of a regular file or a block device (``st_size`` is 0 for one)."""
    return os.lseek(fd, 0, os.SEEK_END)


def write_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    """``pwrite`` every byte, or raise: a short write is not success.

    ``pwrite`` may write less than asked (a file-size limit reached, a file
    system filling up mid-call); the rest is tried again, so the error that
    stopped it (``EFBIG``, ``ENOSPC``) is raised rather than ignored.
    """
    view = memoryview(data).cast('B')
    while view:
        written = os.pwrite(fd, view, offset)
        if written <= 0:  # never for a regular file; do not spin
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        view = view[written:]
        offset += written


def preadv_full(fd: int, view: memoryview, offset: int) -> int:
    """Fill ``view`` from ``offset``; return the bytes read (short at EOF)."""
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got == 0:
            break
        done += got
    return done


class KernelCopier:
    """``copy_file_range`` out of one file, given up for good once refused.

    It spares the two trips through user memory of a read and a write (and
    shares extents where the file system can).  Where the kernel refuses
    (another file system on old kernels, a block device, no such call) it
    copies nothing and the caller reads and writes instead.
    """

    def __init__(self, fd: int):
        self.fd = fd
        self.enabled = hasattr(os, 'copy_file_range')

    def copy(self, out_fd: int, offset: int, length: int,
             out_offset: int) -> int:
        """Copy up to ``length`` bytes; return how many were copied."""
        done = 0
        while done < length and self.enabled:
            try:
                got = os.copy_file_range(self.fd, out_fd, length - done,
                                         offset + done, out_offset + done)
            except OSError as error:
                if error.errno not in NO_COPY:
                    raise
                self.enabled = False
                break
            if got == 0:  # the end of the file: the caller's read will tell
                break
            done += got
        return done
