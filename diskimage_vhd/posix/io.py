"""File-descriptor plumbing: the one opener of disk files, exact reads,
kernel copies.  Shared by the reader, the sources, libvhd's model and the
checker."""

from __future__ import annotations

import errno
import mmap
import os
import stat
from typing import Any

from diskimage_vhd.errors import NotRegularFileError
from diskimage_vhd.errors import os_error
from diskimage_vhd.errors import VhdError
from diskimage_vhd.posix import guard

# No file reaches 2^63 bytes, and lseek refuses offsets beyond off_t.
MAX_OFFSET = 1 << 63

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


def open_input(path: str | os.PathLike[str]) -> int:
    """Open a disk or raw image to read: a regular file or a block device.

    Directories, FIFOs, sockets and character devices are refused
    (NotRegularFileError) before they are opened, since opening some
    devices does something (``/dev/ptmx`` makes a terminal), and again
    after, with ``fstat``, against a swap in between.  The open does not
    block, so a FIFO put there meanwhile cannot hang us.  An OSError
    becomes a VhdError naming the file, its errno kept.
    """
    try:
        _refuse_unless_disk(path, os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as error:
        raise os_error(path, error) from None
    try:
        _refuse_unless_disk(path, os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    os.set_blocking(fd, True)
    reads_announced(fd)
    return fd


def _refuse_unless_disk(path: str | os.PathLike[str], mode: int) -> None:
    if stat.S_ISREG(mode) or stat.S_ISBLK(mode):
        return
    if stat.S_ISDIR(mode):
        raise NotRegularFileError(path, 'is a directory', errno=errno.EISDIR)
    raise NotRegularFileError(path, 'is not a regular file or block device',
                              errno=errno.EINVAL)


OPEN_FLAGS = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
SYMLINK = ('is a symbolic link; in-place conversion does not write through '
           'one (name the file itself)')


def open_in_place(path: str) -> int:
    """Open IN for in-place work: a regular file, never through a link."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise VhdError(path, SYMLINK)
        fd = os.open(path, OPEN_FLAGS)
    except OSError as error:
        if error.errno == errno.ELOOP:  # made a link since the lstat
            raise VhdError(path, SYMLINK) from None
        raise os_error(path, error) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise VhdError(path, 'is not a regular file; in-place conversion '
                             'needs one')
    try:
        lock_in_place(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def lock_in_place(fd: int, path: str) -> None:
    """Hold ``fd``'s file for in-place work: one run at a time, and only
    while ``path`` still names it.

    A second run on the same file waits for the first (a bounded wait, then
    a one-line refusal), then finds the name gone or another file's, and
    refuses: it never appends to, cuts or renames what the first made.
    The lock lasts until ``fd`` is closed.
    """
    guard.lock_file(fd, path)
    if not guard.still_named(fd, path):
        raise VhdError(path, 'was renamed or replaced by another run while '
                             'this one waited; nothing was changed')


def file_identity(fd: int) -> tuple[int, int]:
    """Size and modification time: what any write or truncation changes."""
    return file_size(fd), os.fstat(fd).st_mtime_ns


def file_size(fd: int) -> int:
    """Size of a regular file or a block device (``st_size`` is 0 for one)."""
    return os.lseek(fd, 0, os.SEEK_END)


def pread_full(fd: int, length: int, offset: int) -> bytes:
    """Read up to ``length`` bytes, stopping only at the end of the file.

    An offset past 2^63 is past the end of any file: a short read, not the
    EINVAL that ``pread`` would raise on the overflowing end offset.
    """
    if offset + length >= MAX_OFFSET:
        return b''
    parts: list[bytes] = []
    got = 0
    while got < length:
        data = os.pread(fd, min(length - got, 1 << 24), offset + got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b''.join(parts)


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


def read_buffer(size: int) -> memoryview:
    """``size`` bytes of page-aligned, writable memory to read into.

    An anonymous mapping, so the kernel's copies land on page boundaries:
    measured, reading the page cache into a ``bytearray`` (malloc's memory,
    16 bytes past a page boundary) cost three times the system time of
    reading into this.  Untouched pages take no memory, as before.
    """
    return memoryview(mmap.mmap(-1, max(size, 1)))[:size]


def will_need(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start reading ``[offset, offset + length)`` now,
    unless its first byte is in the page cache already.

    ``posix_fadvise(WILLNEED)`` queues the reads and returns: while one
    piece is copied the next ones come off the disk, several requests in
    flight where synchronous reads keep one.  On a warm cache the advice
    finds every page there and only costs the look-up (measured: 40 ms of
    a 2 GiB run), so a one-byte ``RWF_NOWAIT`` read, which fails rather
    than wait for the disk, decides first.  Advice only: where it is not
    supported nothing happens.
    """
    if length <= 0 or not hasattr(os, 'posix_fadvise') or _cached(fd, offset):
        return
    try:
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_WILLNEED)
    except OSError:
        pass


def reads_announced(fd: int) -> None:
    """Tell the kernel not to read ahead in ``fd`` by itself: its readers
    announce what they will read (``will_need``), and that is data only.

    The kernel's own read-ahead grows to the device's window (8 MiB on a
    virtio disk) past the end of each data extent, into the hole after it,
    and each page of a hole it reads is a page of cache filled with zeros:
    measured on the benchmark's DIB-like disk from a cold cache, a third
    of the time went to that ``memset``, 4.7-5.9 s instead of 1.6 s.
    Advice only: where it is not supported nothing happens.
    """
    if not hasattr(os, 'posix_fadvise'):
        return
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    except OSError:
        pass


_PEEK = bytearray(1)
_NOWAIT = getattr(os, 'RWF_NOWAIT', 0)
_NOWAIT_REFUSED = (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS)


def _cached(fd: int, offset: int) -> bool:
    """Whether the byte at ``offset`` reads without waiting for the disk;
    False where that cannot be asked (the advice is then always given).
    """
    global _NOWAIT
    if not _NOWAIT:
        return False
    try:
        return os.preadv(fd, [_PEEK], offset, _NOWAIT) == 1
    except BlockingIOError:
        return False
    except OSError as error:
        if error.errno in _NOWAIT_REFUSED:
            _NOWAIT = 0
        return False


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
