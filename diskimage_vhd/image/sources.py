"""What a conversion reads from: a raw image, a VHD, or nothing at all."""

from __future__ import annotations

from collections.abc import Iterator
import os
from typing import Protocol

from diskimage_vhd.errors import EmptyDiskError
from diskimage_vhd.errors import VhdError
from diskimage_vhd.image.opened import OpenedInput
from diskimage_vhd.posix.extents import data_extents
from diskimage_vhd.posix.extents import Extent
from diskimage_vhd.posix.io import preadv_full
from diskimage_vhd.posix.io import will_need


class Source(Protocol):
    """A virtual disk: its size, where its data may be, and its bytes.

    Everything a conversion uses of its input, and nothing else: the block
    reader is the only caller of ``data_extents``, ``read_into`` and
    ``copy_range``; ``convert`` calls ``check_unchanged`` and ``close``.
    Optional: ``will_need(offset, length)``, to start reading the disk's
    ``[offset, offset + length)`` ahead (``RawSource`` and ``VhdImage``
    have it; the block reader asks it only of a source that does).
    """

    path: str
    size: int

    def data_extents(self) -> Iterator[Extent]:
        """Ranges ``[start, end)`` that may hold non-zero bytes, in order."""
        ...

    def read_into(self, offset: int, view: memoryview) -> None:
        """Fill ``view`` with the disk's bytes from ``offset``."""
        ...

    def copy_range(self, fd: int, offset: int, length: int,
                   out_offset: int) -> int:
        """Copy bytes to ``fd`` in the kernel where possible; return how many.

        Copying fewer (none at all, even) is allowed: the caller reads and
        writes the rest.
        """
        ...

    def check_unchanged(self) -> None:
        """Raise VhdError if the disk changed while it was being read."""
        ...

    def close(self) -> None:
        ...


class RawSource(OpenedInput):
    """A raw image file (or block device) read with holes skipped."""

    def __init__(self, path: str | os.PathLike[str]):
        super().__init__(path)
        self.size = self.identity[0]
        if self.size == 0:
            self.close()
            raise EmptyDiskError(self.path, 'is empty: there is no disk in it')

    def data_extents(self) -> Iterator[Extent]:
        return data_extents(self.fd, 0, self.size)

    def read_into(self, offset: int, view: memoryview) -> None:
        done = preadv_full(self.fd, view, offset)
        if done < len(view):
            raise VhdError(self.path, 'changed size during conversion '
                                      f'(ends at {offset + done} bytes, '
                                      f'was {self.size})')

    def will_need(self, offset: int, length: int) -> None:
        will_need(self.fd, offset, length)

    def copy_range(self, fd: int, offset: int, length: int,
                   out_offset: int) -> int:
        """Copy bytes to ``fd`` in the kernel; return how many were copied.

        What the kernel will not copy is left to the caller, which reads and
        writes it (and ``read_into`` reports a source that shrank).
        """
        return self.copier.copy(fd, offset, length, out_offset)
