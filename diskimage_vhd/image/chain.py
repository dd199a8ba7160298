"""A differencing disk read through its parents, as XenServer reads it.

Each sector comes from the nearest disk of the chain whose sector bitmap
marks it written, else from the disk below; the bottom disk (dynamic or
fixed) answers for the rest, and past a parent's end the sectors are zero
(libvhd's ``__vhd_io_dynamic_read``).  The chain is only read.

Each parent is found as libvhd finds it (``image.parents``) and held to
what tapdisk holds it to (``vhd_validate_parent``): its UUID must be the
one the child recorded.  The parent timestamp is not compared: tapdisk
disabled that check (a parent's modification time changes when it is
hidden, coalesced or copied), and libvhd never made it when reading.
A chain may not hold one file twice, nor more disks than XenServer's
storage manager allows (``MAX_CHAIN_SIZE``), so a hostile chain costs a
bounded number of opens.
"""

from __future__ import annotations

from collections.abc import Iterator
import os

from diskimage_vhd.errors import InvalidVhdError
from diskimage_vhd.errors import NotAVhdError
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.printable import printable
from diskimage_vhd.image import parents
from diskimage_vhd.image.reader import VhdImage
from diskimage_vhd.posix.extents import Extent
from diskimage_vhd.posix.extents import merged
from diskimage_vhd.posix.io import pread_full
from diskimage_vhd.posix.io import preadv_full

# XenServer's storage manager (xapi-project/sm, vhdutil.MAX_CHAIN_SIZE)
# never lets a chain grow past 30 disks, leaf included.
MAX_CHAIN_DISKS = 30


def _identity(image: VhdImage) -> tuple[int, int]:
    info = os.fstat(image.fd)
    return info.st_dev, info.st_ino


def _refuse(image: VhdImage, kind: str, problem: str) -> InvalidVhdError:
    # The problem quotes names from the disk: one line, whatever they hold.
    return InvalidVhdError(image.path, printable(problem),
                           kind=f'parent-{kind}')


def find_parent(child: VhdImage) -> str:
    """The path of ``child``'s parent; else one line saying which disk was
    looked for and everywhere it was looked.
    """
    assert child.header is not None
    name = parents.decode_parent_name(child.footer, child.header)
    looked: list[str] = []
    tried: set[str] = set()
    wanted = list(parents.locator_paths(child.fd, child.file_size,
                                        child.header.locators))
    if name:
        wanted.append(os.path.basename(name))
    for path in wanted:
        for place in parents.candidates(child.path, path):
            if place in tried:
                continue
            tried.add(place)
            why = parents.unusable(place)
            if why is None:
                return place
            looked.append(f'{place} ({why})')
    where = '; '.join(looked) if looked else 'nowhere: no locator or name'
    raise _refuse(child, 'missing',
                  f'parent {name or "(unnamed)"} (UUID {child.header.parent_uuid}) '
                  f'not found; looked at {where}')


def open_parent(child: VhdImage, seen: set[tuple[int, int]]) -> VhdImage:
    """Open and check ``child``'s parent (UUID, not already in the chain),
    its size read by the rule the child's was (format/sizing.py).
    """
    assert child.header is not None
    if not any(child.header.parent_unique_id):
        raise _refuse(child, 'raw', 'its parent is a raw image, which is '
                                    'not followed')
    path = find_parent(child)
    try:
        parent = VhdImage(path, child.size_rule)
    except NotAVhdError:
        raise _refuse(child, 'not-a-vhd',
                      f'parent {path} is not a VHD') from None
    except InvalidVhdError as error:
        raise _refuse(child, 'unreadable',
                      f'parent {path}: {error.problem}') from None
    try:
        if _identity(parent) in seen:
            raise _refuse(child, 'cycle', f'parent {path} is already in the '
                                          'chain: a cycle')
        wanted = child.header.parent_unique_id
        if parent.footer.unique_id != wanted:
            raise _refuse(child, 'uuid',
                          f'parent {path} has UUID {parent.footer.uuid}, not '
                          f'{child.header.parent_uuid}, the one the child '
                          'was made from')
    except BaseException:
        parent.close()
        raise
    return parent


class ChainImage:
    """A differencing disk and its parents, read as one disk (a Source).

    ``disks`` runs from the leaf down; ``footer``, ``header``, ``path`` and
    ``size`` are the leaf's.
    """

    def __init__(self, leaf: VhdImage):
        self.disks = [leaf]
        self.path = leaf.path
        self.size = leaf.size
        self.footer = leaf.footer
        self.header = leaf.header
        try:
            self._open_parents()
        except BaseException:
            self.close()
            raise

    def _open_parents(self) -> None:
        seen = {_identity(self.disks[0])}
        while self.disks[-1].footer.is_differencing:
            if len(self.disks) >= MAX_CHAIN_DISKS:
                raise _refuse(self.disks[0], 'too-deep',
                              f'its chain is deeper than {MAX_CHAIN_DISKS} '
                              'disks, the most XenServer makes')
            try:
                parent = open_parent(self.disks[-1], seen)
            except InvalidVhdError as error:
                if len(self.disks) == 1:
                    raise
                raise InvalidVhdError(self.path, f'in its chain, {error}',
                                      kind=error.kind) from None
            seen.add(_identity(parent))
            self.disks.append(parent)

    # -- the Source interface ----------------------------------------------

    def data_extents(self) -> Iterator[Extent]:
        """Where any disk of the chain may hold data, within what the disks
        above it let through, merged and in order.
        """
        ranges = []
        visible = self.size
        for disk in self.disks:
            visible = min(visible, disk.size)
            for start, end in disk.data_extents():
                if start >= visible:
                    break
                ranges.append((start, min(end, visible)))
        yield from merged(sorted(ranges))

    def read_into(self, offset: int, view: memoryview) -> None:
        """Fill ``view`` from the chain: each sector from the nearest disk
        that has it.
        """
        if offset + len(view) > self.size:
            raise ValueError('read past the end of the virtual disk')
        wanted = [(offset, offset + len(view))]
        for disk in self.disks:
            if not wanted:
                return
            missing: list[tuple[int, int]] = []
            for start, end in wanted:
                inside = min(end, disk.size)
                if inside < end:  # past this disk's end: zero, as libvhd
                    view[max(start, inside) - offset:end - offset] = \
                        bytes(end - max(start, inside))
                if start >= inside:
                    continue
                if not disk.footer.is_differencing:
                    disk.read_into(start, view[start - offset:inside - offset])
                    continue
                for lo, hi, present in _sector_runs(disk, start, inside):
                    if present:
                        _read_present(disk, lo, view[lo - offset:hi - offset])
                    else:
                        missing.append((lo, hi))
            wanted = missing
        for start, end in wanted:  # only if the bottom is differencing
            view[start - offset:end - offset] = bytes(end - start)

    def read(self, offset: int, length: int) -> bytes:
        buffer = bytearray(length)
        self.read_into(offset, memoryview(buffer))
        return bytes(buffer)

    def copy_range(self, fd: int, offset: int, length: int,
                   out_offset: int) -> int:
        """Nothing is copied in the kernel: every byte is chosen by sector."""
        return 0

    def check_unchanged(self) -> None:
        for disk in self.disks:
            disk.check_unchanged()

    def close(self) -> None:
        for disk in self.disks:
            disk.close()

    def __enter__(self) -> ChainImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sector_runs(disk: VhdImage, start: int,
                 end: int) -> Iterator[tuple[int, int, bool]]:
    """``[start, end)`` (sector aligned or not) cut into runs the disk has
    written (True) or not (False), by its BAT and sector bitmaps.
    """
    assert disk.bat is not None
    bs = disk.block_size
    position = start
    while position < end:
        index = position // bs
        block_end = min((index + 1) * bs, end)
        entry = disk.bat[index] if index < len(disk.bat) else c.UNALLOCATED
        if entry == c.UNALLOCATED:
            yield position, block_end, False
            position = block_end
            continue
        bits = _bit_string(pread_full(disk.fd, disk.bitmap_bytes,
                                      entry * c.SECTOR_SIZE), bs)
        base = index * bs
        while position < block_end:
            sector = (position - base) // c.SECTOR_SIZE
            present = bits[sector] == '1'
            change = bits.find('0' if present else '1', sector + 1)
            stop = block_end if change < 0 else min(
                base + change * c.SECTOR_SIZE, block_end)
            yield position, stop, present
            position = stop


def _bit_string(bitmap: bytes, block_size: int) -> str:
    """A sector bitmap as '0's and '1's, one a sector (most significant bit
    first), so runs are found by ``str.find`` rather than bit by bit.
    """
    sectors = block_size // c.SECTOR_SIZE
    used = -(-sectors // 8)
    value = int.from_bytes(bitmap[:used].ljust(used, b'\0'), 'big')
    return format(value, f'0{used * 8}b')[:sectors]


def _read_present(disk: VhdImage, position: int, view: memoryview) -> None:
    """Read written bytes of a differencing disk's block from the file."""
    assert disk.bat is not None
    index, within = disk.layout.where(position)
    start = disk.layout.data_offset(disk.bat[index], within)
    if preadv_full(disk.fd, view, start) < len(view):
        raise InvalidVhdError(disk.path, 'truncated: data ends before offset '
                                         f'{start + len(view)}',
                              kind='truncated')


def open_chain(image: VhdImage) -> ChainImage:
    """``image`` as a Source; a differencing disk read through its parents.

    ``image`` is closed if its chain cannot be read.
    """
    return ChainImage(image)
