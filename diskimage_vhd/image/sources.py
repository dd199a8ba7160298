"""What a conversion reads from: a raw image, a VHD, or nothing at all."""

from __future__ import annotations

import os
from typing import Iterator

from diskimage_vhd.errors import VhdError
from diskimage_vhd.image.opened import OpenedInput
from diskimage_vhd.posix.extents import Extent, data_extents
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


class RawSource(OpenedInput):
    """A raw image file (or block device) read with holes skipped."""

    def __init__(self, path: str | os.PathLike[str]):
        super().__init__(path)
        self.size = self.identity[0]
        if self.size == 0:
            self.close()
            raise VhdError(self.path, 'is empty: there is no disk in it')

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
        return self.copier.copy(fd, offset, length, out_offset)


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
