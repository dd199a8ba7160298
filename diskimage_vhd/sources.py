"""What a conversion reads from: a raw image, a VHD, or nothing at all."""

from __future__ import annotations

import errno
import os
from typing import Iterator

from diskimage_vhd.errors import VhdError
from diskimage_vhd.extents import Extent, data_extents
from diskimage_vhd.reader import (
    check_unchanged, file_identity, open_regular)

try:  # Python 3.8+: typing.Protocol
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore


# copy_file_range errors that mean "not here": fall back to read and write.
NO_COPY = frozenset((errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP,
                     errno.EBADF, errno.ETXTBSY))


class Source(Protocol):
    """A virtual disk: its size, where its data may be, and its bytes."""

    path: str
    size: int

    def data_extents(self) -> Iterator[Extent]:
        ...

    def read_into(self, offset: int, view: memoryview) -> None:
        ...

    def check_unchanged(self) -> None:
        """Raise VhdError if the disk changed while it was being read."""
        ...


class RawSource:
    """A raw image file (or block device) read with holes skipped."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)
        self.fd = open_regular(self.path)
        self.identity = file_identity(self.fd)
        self.size = self.identity[0]
        self._can_copy = hasattr(os, 'copy_file_range')

    def data_extents(self) -> Iterator[Extent]:
        return data_extents(self.fd, 0, self.size)

    def read_into(self, offset: int, view: memoryview) -> None:
        done = 0
        while done < len(view):
            got = os.preadv(self.fd, [view[done:]], offset + done)
            if got == 0:
                raise VhdError(self.path, 'changed size during conversion '
                                          f'(ends at {offset + done} bytes, '
                                          f'was {self.size})')
            done += got

    def copy_range(self, fd: int, offset: int, length: int,
                   out_offset: int) -> int:
        """Copy bytes to ``fd`` in the kernel; return how many were copied.

        ``copy_file_range`` spares the two trips through user memory of a
        read and a write (and shares extents where the file system can).
        Where it is refused (another file system on old kernels, a block
        device, no such call), it returns short and is not tried again:
        the caller reads and writes the rest (and ``read_into`` reports a
        source that shrank).
        """
        done = 0
        while done < length and self._can_copy:
            try:
                got = os.copy_file_range(self.fd, fd, length - done,
                                         offset + done, out_offset + done)
            except OSError as error:
                if error.errno not in NO_COPY:
                    raise
                self._can_copy = False
                break
            if got == 0:  # the end of the file: let read_into tell
                break
            done += got
        return done

    def check_unchanged(self) -> None:
        """Raise VhdError if the file was written since it was opened."""
        check_unchanged(self.fd, self.path, self.identity)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> RawSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class EmptySource:
    """A disk of ``size`` zero bytes, for creating empty VHDs."""

    def __init__(self, size: int, path: str = '<empty>'):
        self.path = path
        self.size = size

    def data_extents(self) -> Iterator[Extent]:
        return iter(())

    def read_into(self, offset: int, view: memoryview) -> None:
        view[:] = bytes(len(view))

    def check_unchanged(self) -> None:
        """Nothing can change an empty disk."""
