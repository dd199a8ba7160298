"""Reading fixed and dynamic VHDs, whoever wrote them."""

from __future__ import annotations

import array
import os
import stat
import sys
from typing import Iterator, Optional, Tuple

from diskimage_vhd.errors import describe_os_error
from diskimage_vhd.errors import InvalidVhdError
from diskimage_vhd.errors import NotAVhdError
from diskimage_vhd.errors import VhdError
from diskimage_vhd.format.batmap import BatmapHeader
from diskimage_vhd.format.bitmap import bit_is_set
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.geometry import MAX_CHS_SECTORS
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.posix.extents import data_extents
from diskimage_vhd.posix.extents import Extent
from diskimage_vhd.posix.io import file_size
from diskimage_vhd.posix.io import KernelCopier
from diskimage_vhd.posix.io import OpenFile
from diskimage_vhd.posix.io import preadv_full
from diskimage_vhd.xen.libvhd import footer_checksum_ok

# Creators whose disks are sized by ``current_size``; for the others qemu
# (and Virtual PC) trust the CHS geometry.  Same table as qemu's vpc driver.
CURRENT_SIZE_CREATORS = (b'win ', b'qem2', b'd2v ', b'CTXS', b'tap\0')

# A BAT describing more than this is refused before it is read: it bounds
# the memory a hostile header can make us allocate (XenServer's own largest
# preallocation is 2 TiB).
MAX_ADDRESSABLE = 2 * 1024 ** 4
# The BAT is read whole, 4 bytes an entry: no more entries than 2 TiB needs
# at 512 KiB blocks (16 MiB of table), whatever the block size claimed, or
# a sparse file with a header claiming 2^32 entries would cost 16 GiB.
MAX_TABLE_ENTRIES = MAX_ADDRESSABLE // (512 * 1024)
MIN_BLOCK_SIZE = c.SECTOR_SIZE


def open_regular(path: str | os.PathLike[str]) -> int:
    """Open ``path`` read-only, refusing directories, FIFOs and devices clearly."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0)
                     | os.O_NONBLOCK)
    except OSError as error:
        raise VhdError(path, describe_os_error(error)) from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode) or stat.S_ISBLK(mode):
        os.set_blocking(fd, True)
        return fd
    os.close(fd)
    kind = 'a directory' if stat.S_ISDIR(mode) else 'not a regular file'
    raise VhdError(path, f'is {kind}')


def file_identity(fd: int) -> Tuple[int, int]:
    """Size and modification time: what any write or truncation changes."""
    return file_size(fd), os.fstat(fd).st_mtime_ns


def check_unchanged(fd: int, path: str, identity: Tuple[int, int]) -> None:
    """Refuse to finish a conversion whose input was written meanwhile.

    A file cut and grown back, or rewritten in place, would otherwise give
    an image of neither version, silently.
    """
    size, mtime = file_identity(fd)
    if size != identity[0]:
        raise VhdError(path, f'changed during conversion (was {identity[0]} '
                             f'bytes, now {size}); nothing was written')
    if mtime != identity[1]:
        raise VhdError(path, 'changed during conversion (written to while '
                             'being read); nothing was written')


def pread_exact(fd: int, length: int, offset: int, path: str) -> bytes:
    """Read exactly ``length`` bytes or say the file is truncated."""
    data = os.pread(fd, length, offset)
    if len(data) != length:
        raise InvalidVhdError(path, f'truncated: cannot read {length} bytes '
                                    f'at offset {offset}')
    return data


def read_footer_bytes(fd: int, size: int, path: str) -> bytes:
    """The primary footer: the last 512 bytes (or 511, an old short footer)."""
    if size < c.FOOTER_SIZE - 1:
        raise InvalidVhdError(path, f'not a VHD: {size} bytes is too small')
    if size % c.SECTOR_SIZE == c.SECTOR_SIZE - 1:
        return pread_exact(fd, c.FOOTER_SIZE - 1, size - c.FOOTER_SIZE + 1,
                           path) + b'\0'
    return pread_exact(fd, c.FOOTER_SIZE, size - c.FOOTER_SIZE, path)


def bitmap_bytes(block_size: int) -> int:
    """Bytes of the sector bitmap before each block: a bit a sector, whole sectors."""
    bits = block_size // c.SECTOR_SIZE
    return -(-bits // (8 * c.SECTOR_SIZE)) * c.SECTOR_SIZE


def uses_current_size(footer: Footer) -> bool:
    """Whether a disk's size is ``current_size`` rather than its geometry."""
    return (footer.creator_application in CURRENT_SIZE_CREATORS
            or footer.cylinders * footer.heads * footer.sectors_per_track
            == MAX_CHS_SECTORS)


class VhdImage(OpenFile):
    """An open VHD: its structures, its allocated extents and its data."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)
        self.fd = open_regular(self.path)
        try:
            self.identity = file_identity(self.fd)
            self._load()
        except BaseException:
            self.close()
            raise
        self._copier = KernelCopier(self.fd)

    # -- loading -----------------------------------------------------------

    def _load(self) -> None:
        self.file_size = file_size(self.fd)
        self.footer = self._read_footer()
        self.header: Optional[DynamicHeader] = None
        self.bat: Optional[array.array] = None
        self.batmap_header: Optional[BatmapHeader] = None
        self.batmap: Optional[bytes] = None
        # An old tapdisk footer is 511 bytes long: the data ends before it.
        short = self.file_size % c.SECTOR_SIZE == c.SECTOR_SIZE - 1
        self.data_end = self.file_size - c.FOOTER_SIZE + short
        if self.footer.disk_type == c.DISK_TYPE_FIXED:
            self.size = min(self._footer_size(), max(self.data_end, 0))
        elif self.footer.is_dynamic:
            self.size = self._footer_size()
            self._load_dynamic()
        else:
            raise InvalidVhdError(
                self.path, f'unknown disk type {self.footer.disk_type}')

    def _read_footer(self) -> Footer:
        footer = Footer.parse(read_footer_bytes(self.fd, self.file_size,
                                                self.path))
        if footer.cookie == c.FOOTER_COOKIE:
            self._check_footer_checksum(footer, 'footer')
            return footer
        copy = Footer.parse(pread_exact(self.fd, c.FOOTER_SIZE, 0, self.path))
        if copy.cookie == c.FOOTER_COOKIE and copy.is_dynamic:
            # The primary is gone (a truncated copy, say): libvhd and qemu
            # fall back to the copy at the start of a dynamic disk.
            self._check_footer_checksum(copy, 'footer copy')
            return copy
        raise NotAVhdError(self.path, 'not a VHD: no footer cookie '
                                      '"conectix" at the end of the file')

    def _check_footer_checksum(self, footer: Footer, what: str) -> None:
        """libvhd's rule, old tapdisk's hidden-byte quirk included."""
        if not footer_checksum_ok(footer):
            raise InvalidVhdError(self.path, f'{what} has an invalid checksum')

    def _footer_size(self) -> int:
        if uses_current_size(self.footer):
            return self.footer.current_size
        return self.footer.geometry.size

    def _load_dynamic(self) -> None:
        offset = self.footer.data_offset
        if offset % c.SECTOR_SIZE or offset + c.HEADER_SIZE > self.file_size:
            raise InvalidVhdError(self.path, f'header offset {offset} is '
                                             'outside the file')
        header = DynamicHeader.parse(pread_exact(self.fd, c.HEADER_SIZE,
                                                 offset, self.path))
        if header.cookie != c.HEADER_COOKIE:
            raise InvalidVhdError(self.path, 'header has an invalid cookie')
        if header.checksum != header.computed_checksum():
            raise InvalidVhdError(self.path, 'header has an invalid checksum')
        bs = header.block_size
        if bs < MIN_BLOCK_SIZE or bs > c.BLOCK_SIZE or bs & (bs - 1):
            raise InvalidVhdError(self.path, f'unsupported block size {bs}')
        entries = header.max_table_entries
        if entries * bs > MAX_ADDRESSABLE or entries > MAX_TABLE_ENTRIES:
            raise InvalidVhdError(self.path, f'max table entries {entries} '
                                             'is beyond any VHD size')
        table_end = header.table_offset + entries * 4
        if header.table_offset % c.SECTOR_SIZE or table_end > self.data_end:
            raise InvalidVhdError(self.path, 'block allocation table runs '
                                             'past the end of the file')
        bat = array.array('I', pread_exact(self.fd, entries * 4,
                                           header.table_offset, self.path))
        if sys.byteorder == 'little':
            bat.byteswap()
        self.header = header
        self.bat = bat
        self.block_size = bs
        self.bitmap_bytes = bitmap_bytes(bs)
        self._check_blocks_inside()
        self._load_batmap(table_end)

    def _check_blocks_inside(self) -> None:
        """Every block of the virtual disk lies inside the file.

        Entries past the virtual size are never read, and libvhd ignores
        them too: a stale one there does not make the disk unreadable.
        """
        span = self.bitmap_bytes + self.block_size
        used = min(len(self.bat), -(-self.size // self.block_size))
        for index, entry in enumerate(self.bat[:used]):
            if entry != c.UNALLOCATED and entry * c.SECTOR_SIZE + span \
                    > self.data_end:
                raise InvalidVhdError(
                    self.path, f'block {index} (sector {entry}) runs past the '
                               'end of the file')

    def _load_batmap(self, table_end: int) -> None:
        if (self.footer.creator_application != c.CREATOR_TAP
                or self.footer.creator_version < 0x00010002):
            return
        offset = -(-table_end // c.SECTOR_SIZE) * c.SECTOR_SIZE
        if offset + c.SECTOR_SIZE > self.data_end:
            return
        header = BatmapHeader.parse(pread_exact(self.fd, c.SECTOR_SIZE, offset,
                                                self.path))
        if header.cookie != c.BATMAP_COOKIE:
            return
        self.batmap_header = header
        length = header.batmap_size * c.SECTOR_SIZE
        if header.batmap_offset + length <= self.data_end \
                and length <= len(self.bat) + c.SECTOR_SIZE:
            self.batmap = os.pread(self.fd, length, header.batmap_offset)

    # -- queries -----------------------------------------------------------

    @property
    def is_dynamic(self) -> bool:
        return self.header is not None

    def allocated_blocks(self) -> int:
        if self.bat is None:
            return 0
        return sum(1 for entry in self.bat if entry != c.UNALLOCATED)

    def data_extents(self) -> Iterator[Extent]:
        """Ranges of the virtual disk that may hold non-zero data, in order."""
        if self.bat is None:
            yield from data_extents(self.fd, 0, self.size)
            return
        bs = self.block_size
        run_start = None
        blocks = min(len(self.bat), -(-self.size // bs))
        for index in range(blocks):
            if self.bat[index] == c.UNALLOCATED:
                if run_start is not None:
                    yield run_start, index * bs
                    run_start = None
            elif run_start is None:
                run_start = index * bs
        if run_start is not None:
            yield run_start, min(blocks * bs, self.size)

    def read_into(self, offset: int, view: memoryview) -> None:
        """Fill ``view`` with the virtual disk's bytes from ``offset``."""
        if offset + len(view) > self.size:
            raise ValueError('read past the end of the virtual disk')
        if self.bat is None:
            self._pread_into(view, offset)
            return
        if self.footer.disk_type == c.DISK_TYPE_DIFFERENCING:
            raise VhdError(self.path, 'differencing disks need their parent, '
                                      'which is not supported')
        bs = self.block_size
        done = 0
        while done < len(view):
            position = offset + done
            index, within = divmod(position, bs)
            length = min(bs - within, len(view) - done)
            part = view[done:done + length]
            entry = self.bat[index] if index < len(self.bat) else c.UNALLOCATED
            if entry == c.UNALLOCATED:
                part[:] = bytes(length)
            else:
                block_start = entry * c.SECTOR_SIZE
                self._pread_into(part, block_start + self.bitmap_bytes + within)
                self._apply_bitmap(block_start, within, part)
            done += length

    def copy_range(self, fd: int, offset: int, length: int,
                   out_offset: int) -> int:
        """Copy virtual bytes to ``fd`` in the kernel; return how many were.

        A fixed disk's data, and a dynamic block whose bitmap marks every
        sector present, lie in the file as they are on the disk; anything
        else (a hole, a partly written block) stops the copy short and is
        left to the caller's reads.
        """
        if self.bat is None:
            return self._copier.copy(fd, offset, min(length, self.size - offset),
                                     out_offset)
        if self.footer.disk_type == c.DISK_TYPE_DIFFERENCING:
            return 0
        bs = self.block_size
        done = 0
        while done < length:
            index, within = divmod(offset + done, bs)
            entry = self.bat[index] if index < len(self.bat) else c.UNALLOCATED
            if (entry == c.UNALLOCATED
                    or self._partial_bitmap(entry * c.SECTOR_SIZE)):
                break
            span = min(bs - within, length - done)
            start = entry * c.SECTOR_SIZE + self.bitmap_bytes + within
            got = self._copier.copy(fd, start, span, out_offset + done)
            done += got
            if got < span:
                break
        return done

    def _partial_bitmap(self, block_start: int) -> Optional[bytes]:
        """The block's sector bitmap, or None when it marks every sector."""
        used = (self.block_size // c.SECTOR_SIZE) // 8
        bitmap = os.pread(self.fd, used, block_start)
        return None if bitmap == b'\xff' * used else bitmap

    def read(self, offset: int, length: int) -> bytes:
        buffer = bytearray(length)
        self.read_into(offset, memoryview(buffer))
        return bytes(buffer)

    def _apply_bitmap(self, block_start: int, within: int,
                      part: memoryview) -> None:
        """Zero the sectors the block's bitmap says were never written."""
        bitmap = self._partial_bitmap(block_start)
        if bitmap is None:
            return
        first = within // c.SECTOR_SIZE
        last = (within + len(part) - 1) // c.SECTOR_SIZE
        for sector in range(first, last + 1):
            if not bit_is_set(bitmap, sector):
                lo = max(sector * c.SECTOR_SIZE - within, 0)
                hi = min((sector + 1) * c.SECTOR_SIZE - within, len(part))
                part[lo:hi] = bytes(hi - lo)

    def _pread_into(self, view: memoryview, offset: int) -> None:
        done = preadv_full(self.fd, view, offset)
        if done < len(view):
            raise InvalidVhdError(self.path, 'truncated: data ends at '
                                             f'offset {offset + done}')

    def check_unchanged(self) -> None:
        """Raise VhdError if the file was written since it was opened."""
        check_unchanged(self.fd, self.path, self.identity)
