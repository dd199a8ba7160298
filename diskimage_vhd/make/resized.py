"""A source seen at the size the user means for the disk (``--size``).

A VHD made by another tool often has a size of its own making: qemu-img
rounds 4 GiB up to a whole CHS geometry (4295467008 bytes), which then
asks for a 5 GiB root disk.  Seen at 4 GiB, the same data makes a 4 GiB
disk.  Growing adds zeros; shrinking is refused where it would cut data.
"""

from __future__ import annotations

from collections.abc import Iterator

from diskimage_vhd.errors import UsageError
from diskimage_vhd.errors import VhdError
from diskimage_vhd.image.sources import Source
from diskimage_vhd.posix.extents import Extent

SCAN_CHUNK = 1 << 20  # bytes read at a time looking for data past the end


class ResizedSource:
    """``source`` with another size: its data extents end there, and past
    its own end it reads as a hole (never read: no extent goes there).
    """

    def __init__(self, source: Source, size: int):
        self._source = source
        self.path = source.path
        self.size = size
        will_need = getattr(source, 'will_need', None)
        if will_need is not None:
            self.will_need = will_need

    def data_extents(self) -> Iterator[Extent]:
        for start, end in self._source.data_extents():
            if start >= self.size:
                return
            yield start, min(end, self.size)

    def read_into(self, offset: int, view: memoryview) -> None:
        """Past the source's own end the disk reads as zeros."""
        inside = max(0, min(len(view), self._source.size - offset))
        if inside:
            self._source.read_into(offset, view[:inside])
        if inside < len(view):
            view[inside:] = bytes(len(view) - inside)

    def copy_range(self, fd: int, offset: int, length: int,
                   out_offset: int) -> int:
        return self._source.copy_range(fd, offset, length, out_offset)

    def check_unchanged(self) -> None:
        self._source.check_unchanged()

    def close(self) -> None:
        self._source.close()


def first_data_past(source: Source, size: int) -> int | None:
    """The offset of the first non-zero byte at or past ``size``, if any.

    Only the data extents are read, a chunk at a time, and the scan stops
    at the first non-zero byte.
    """
    buffer = bytearray(SCAN_CHUNK)
    for start, end in source.data_extents():
        offset = max(start, size)
        while offset < end:
            length = min(SCAN_CHUNK, end - offset)
            view = memoryview(buffer)[:length]
            source.read_into(offset, view)
            rest = bytes(view).lstrip(b'\0')
            if rest:
                return offset + length - len(rest)
            offset += length
    return None


def resized(source: Source, size: int) -> Source:
    """``source`` seen at ``size`` bytes, refusing to cut any data."""
    if size <= 0:
        raise UsageError(None, f'--size {size}: a disk needs at least one '
                               'byte')
    if size == source.size:
        return source
    if size < source.size:
        offset = first_data_past(source, size)
        if offset is not None:
            raise VhdError(source.path, f'holds data at byte {offset}, past '
                                        f'the {size} bytes asked for '
                                        '(--size); refusing to cut it')
    return ResizedSource(source, size)
