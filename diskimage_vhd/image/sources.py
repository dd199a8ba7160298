"""What a conversion reads from: a raw image, a VHD, or nothing at all."""

from __future__ import annotations

import os
from typing import Iterator

from diskimage_vhd.errors import VhdError
from diskimage_vhd.image.reader import check_unchanged
from diskimage_vhd.image.reader import file_identity
from diskimage_vhd.image.reader import open_regular
from diskimage_vhd.posix.extents import data_extents
from diskimage_vhd.posix.extents import Extent
from diskimage_vhd.posix.io import KernelCopier
from diskimage_vhd.posix.io import OpenFile
from diskimage_vhd.posix.io import preadv_full

try:  # Python 3.8+: typing.Protocol
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore


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


class RawSource(OpenFile):
    """A raw image file (or block device) read with holes skipped."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)
        self.fd = open_regular(self.path)
        self.identity = file_identity(self.fd)
        self.size = self.identity[0]
        self._copier = KernelCopier(self.fd)

    def data_extents(self) -> Iterator[Extent]:
        return data_extents(self.fd, 0, self.size)

    def read_into(self, offset: int, view: memoryview) -> None:
        done = preadv_full(self.fd, view, offset)
        if done < len(view):
            raise VhdError(self.path, 'changed size during conversion '
                                      f'(ends at {offset + done} bytes, '
                                      f'was {self.size})')

    def copy_range(self, fd: int, offset: int, length: int,
                   out_offset: int) -> int:
        """Copy bytes to ``fd`` in the kernel; return how many were copied.

        What the kernel will not copy is left to the caller, which reads and
        writes it (and ``read_into`` reports a source that shrank).
        """
        return self._copier.copy(fd, offset, length, out_offset)

    def check_unchanged(self) -> None:
        """Raise VhdError if the file was written since it was opened."""
        check_unchanged(self.fd, self.path, self.identity)


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
