"""The bytes of an open VHD's virtual disk: fixed and dynamic, one
interface (the ``Source`` a conversion reads, ``image/sources.py``).

A fixed disk's data is the file's first ``size`` bytes; a dynamic disk's
is scattered in blocks its BAT places and its bitmaps mark.  ``VhdImage``
(``image/reader.py``) validates the file and opens the one that fits.
"""

from __future__ import annotations

import array
from collections.abc import Callable
from collections.abc import Iterator

from diskimage_vhd.format.bitmap import bit_is_set
from diskimage_vhd.format.bitmap import covers_whole_block
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.layout import HeaderLayout
from diskimage_vhd.format.units import blocks_for
from diskimage_vhd.posix.extents import data_extents as file_data_extents
from diskimage_vhd.posix.extents import Extent
from diskimage_vhd.posix.extents import merged
from diskimage_vhd.posix.io import KernelCopier
from diskimage_vhd.posix.io import pread_full
from diskimage_vhd.posix.io import will_need

PreadInto = Callable[[memoryview, int], None]  # all of it, or refused


class FixedData:
    """A fixed disk: the virtual disk lies in the file as it is."""

    def __init__(self, fd: int, size: int, copier: KernelCopier,
                 pread_into: PreadInto):
        self.fd, self.size, self.copier = fd, size, copier
        self._pread_into = pread_into

    used_entries = 0

    def allocated_blocks(self) -> int:
        return 0

    def data_extents(self) -> Iterator[Extent]:
        yield from file_data_extents(self.fd, 0, self.size)

    def read_into(self, offset: int, view: memoryview) -> None:
        self._pread_into(view, offset)

    def will_need(self, offset: int, length: int) -> None:
        will_need(self.fd, offset, length)

    def copy_range(self, fd: int, offset: int, length: int,
                   out_offset: int) -> int:
        return self.copier.copy(fd, offset, min(length, self.size - offset),
                                out_offset)


class DynamicData:
    """A dynamic disk's blocks, where its BAT says, as its bitmaps mark.

    ``standalone`` refuses a differencing disk, whose unmarked sectors are
    its parent's: they are never read as zeros.
    """

    def __init__(self, fd: int, size: int, copier: KernelCopier,
                 pread_into: PreadInto, bat: array.array,
                 layout: HeaderLayout, standalone: Callable[[], None],
                 differencing: bool):
        self.fd, self.size, self.copier = fd, size, copier
        self._pread_into = pread_into
        self.bat = bat
        self.layout = layout
        self._standalone = standalone
        self._differencing = differencing

    @property
    def used_entries(self) -> int:
        """BAT entries that map the virtual disk (the rest are never read)."""
        return min(len(self.bat), blocks_for(self.size,
                                             self.layout.block_size))

    def allocated_blocks(self) -> int:
        return sum(1 for entry in self.bat if entry != c.UNALLOCATED)

    def _entry(self, index: int) -> int:
        return self.bat[index] if index < len(self.bat) else c.UNALLOCATED

    def data_extents(self) -> Iterator[Extent]:
        """Only allocated blocks, and within them only what the file holds:
        the holes of a sparse VHD file are not read, so the cost follows
        the data for a VHD as for a raw image.
        """
        yield from merged(self._block_extents())

    def _block_extents(self) -> Iterator[Extent]:
        """Each allocated block's file data, at its place in the disk."""
        bs = self.layout.block_size
        for index in range(self.used_entries):
            entry = self.bat[index]
            if entry == c.UNALLOCATED:
                continue
            data = self.layout.data_offset(entry)
            length = min(bs, self.size - index * bs)
            shift = index * bs - data
            for start, end in file_data_extents(self.fd, data, data + length):
                yield start + shift, end + shift

    def read_into(self, offset: int, view: memoryview) -> None:
        self._standalone()
        bs = self.layout.block_size
        done = 0
        while done < len(view):
            index, within = self.layout.where(offset + done)
            length = min(bs - within, len(view) - done)
            part = view[done:done + length]
            entry = self._entry(index)
            if entry == c.UNALLOCATED:
                part[:] = bytes(length)
            else:
                self._pread_into(part, self.layout.data_offset(entry, within))
                self._apply_bitmap(entry, within, part)
            done += length

    def will_need(self, offset: int, length: int) -> None:
        """Ask for the allocated blocks' bytes under the virtual range, each
        block's bitmap with the start of its data: where they lie in the
        file is the BAT's to say, not the kernel's to guess.
        """
        end = min(offset + length, self.size)
        while offset < end:
            index, within = self.layout.where(offset)
            part = min(self.layout.block_size - within, end - offset)
            entry = self._entry(index)
            if entry != c.UNALLOCATED:
                data = self.layout.data_offset(entry, within)
                start = data - self.layout.bitmap_bytes if within == 0 else data
                will_need(self.fd, start, data + part - start)
            offset += part

    def copy_range(self, fd: int, offset: int, length: int,
                   out_offset: int) -> int:
        """A block whose bitmap marks every sector lies in the file as it is
        on the disk; anything else (a hole, a partly written block) stops
        the copy short, for the caller's reads.
        """
        if self._differencing:
            return 0
        bs = self.layout.block_size
        done = 0
        while done < length:
            index, within = self.layout.where(offset + done)
            entry = self._entry(index)
            if entry == c.UNALLOCATED or self._partial_bitmap(entry):
                break
            span = min(bs - within, length - done)
            start = self.layout.data_offset(entry, within)
            got = self.copier.copy(fd, start, span, out_offset + done)
            done += got
            if got < span:
                break
        return done

    def _partial_bitmap(self, entry: int) -> bytes | None:
        """The block's sector bitmap, or None when it marks every sector."""
        bitmap = pread_full(self.fd, self.layout.bitmap_bytes,
                            entry * c.SECTOR_SIZE)
        return (None if covers_whole_block(bitmap, self.layout.block_size)
                else bitmap)

    def _apply_bitmap(self, entry: int, within: int,
                      part: memoryview) -> None:
        """Zero the sectors the block's bitmap says were never written."""
        bitmap = self._partial_bitmap(entry)
        if bitmap is None:
            return
        first = within // c.SECTOR_SIZE
        last = (within + len(part) - 1) // c.SECTOR_SIZE
        for sector in range(first, last + 1):
            if not bit_is_set(bitmap, sector):
                lo = max(sector * c.SECTOR_SIZE - within, 0)
                hi = min((sector + 1) * c.SECTOR_SIZE - within, len(part))
                part[lo:hi] = bytes(hi - lo)
