"""What XenServer's libvhd sees when it opens a file, errno results included.

vhd-util's ``check``, ``read`` and ``query`` print libvhd's return codes
(``error opening F: -22``), so this module reproduces its reads: which
offsets it reads, which checks make ``vhd_open`` fail, and with which errno.
Reads are bounded: the BAT is streamed in chunks, never loaded whole.
"""

from __future__ import annotations

import array
import dataclasses
import errno
import os
import stat
import struct
import sys
from typing import Iterator, List, Optional, Tuple

from diskimage_vhd.errors import describe_os_error
from diskimage_vhd.format.batmap import BatmapHeader
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.posix.io import file_size
from diskimage_vhd.posix.io import OpenFile

POISON_COOKIE = b'v_poison'
TAP_0_1 = 0x00000001
TAP_1_1 = 0x00010001
TAP_1_2 = 0x00010002
BATMAP_1_1 = 0x00010001
BLOCK_SHIFT = 21  # libvhd sizes disks in 2 MiB blocks whatever the header says
MAX_OFFSET = 1 << 63  # lseek64 refuses offsets that do not fit off64_t
PLATFORM_CODES = (0, 0x57693272, 0x5769326B, 0x57327275, 0x57326B75,
                  0x4D616320, 0x4D616358)
_LOCATOR = struct.Struct('>IIIIQ')  # code, space, length, reserved, offset
LOCATOR = _LOCATOR.size
BAT_CHUNK = 1 << 16  # entries read at a time


class LibvhdError(Exception):
    """A libvhd call failed; vhd-util prints ``-errno``."""

    def __init__(self, code: int, reason: str = ''):
        self.errno = code
        self.reason = reason or os.strerror(code)
        super().__init__(f'{-code}')


def padded(size: int) -> int:
    """``vhd_bytes_padded``: ``size`` rounded up to whole sectors."""
    return -(-size // c.SECTOR_SIZE) * c.SECTOR_SIZE


def secs_no_zero(size: int) -> int:
    """``secs_round_up_no_zero``: sectors for ``size`` bytes, at least one."""
    return max(1, -(-size // c.SECTOR_SIZE))


def pread_full(fd: int, length: int, offset: int) -> bytes:
    """Read up to ``length`` bytes, stopping only at the end of the file."""
    if offset + length >= MAX_OFFSET:
        # No file reaches 2^63 bytes, so this is past the end of any; say so
        # as a short read, as libvhd's lseek-then-read sees it, rather than
        # let pread fail with EINVAL on the overflowing end offset.
        return b''
    parts: List[bytes] = []
    got = 0
    while got < length:
        data = os.pread(fd, min(length - got, 1 << 24), offset + got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b''.join(parts)


def vhd_read(fd: int, length: int, offset: int) -> bytes:
    """``vhd_seek`` then ``vhd_read``: all of it, or libvhd's errno."""
    if offset < 0 or offset >= MAX_OFFSET:
        raise LibvhdError(errno.EINVAL, f'cannot seek to offset {offset}')
    try:
        data = pread_full(fd, length, offset)
    except OSError as error:
        raise LibvhdError(error.errno or errno.EIO,
                          describe_os_error(error)) from None
    if len(data) == length:
        return data
    if not data:  # libvhd's atomic read sets EPIPE on end of file
        raise LibvhdError(errno.EPIPE, f'offset {offset} is past the end of '
                                       'the file')
    raise LibvhdError(errno.EIO, f'only {len(data)} of {length} bytes at '
                                 f'offset {offset}')


def footer_checksum_ok(footer: Footer) -> bool:
    """The checksum matches, or matches with ``hidden`` taken as 0 (old tap)."""
    if footer.checksum == footer.computed_checksum():
        return True
    if (footer.hidden and footer.creator_application[:3] == b'tap'
            and footer.creator_version in (TAP_0_1, TAP_1_1)):
        unhidden = dataclasses.replace(footer, hidden=0)
        return footer.checksum == unhidden.computed_checksum()
    return False


def footer_usable(footer: Footer) -> bool:
    """``vhd_validate_footer``: a cookie (or the poison cookie) and checksum."""
    return (footer.cookie in (c.FOOTER_COOKIE, POISON_COOKIE)
            and footer_checksum_ok(footer))


def header_problem(header: DynamicHeader) -> Optional[str]:
    """``vhd_validate_header``; the reason it fails, or None."""
    if header.cookie != c.HEADER_COOKIE:
        return 'invalid cookie'
    if header.header_version != c.HEADER_VERSION:
        return 'invalid header version'
    if header.data_offset != c.NO_DATA_OFFSET:
        return 'invalid data offset'
    for index, code in enumerate(locator_codes(header)):
        if code not in PLATFORM_CODES:
            return f'invalid parent locator {index} platform code {code:#x}'
    if header.checksum != header.computed_checksum():
        return 'invalid checksum'
    return None


def locators(header: DynamicHeader) -> List[Tuple[int, int, int, int, int]]:
    """The 8 parent locators: (code, data_space, data_len, reserved, offset)."""
    raw = header.parent_locators
    return [_LOCATOR.unpack_from(raw, i * LOCATOR) for i in range(8)]


def locator_codes(header: DynamicHeader) -> List[int]:
    return [entry[0] for entry in locators(header)]


def locator_size(data_space: int) -> int:
    """Bytes a locator takes: its space is in sectors, or (MS compat) bytes."""
    if data_space < c.SECTOR_SIZE:
        return data_space * c.SECTOR_SIZE
    if data_space % c.SECTOR_SIZE == 0:
        return data_space
    return 0


@dataclasses.dataclass
class Vhd(OpenFile):
    """An opened disk as libvhd's ``vhd_context_t`` holds it."""

    path: str
    fd: int
    file_size: int
    footer: Footer
    header: Optional[DynamicHeader] = None

    @property
    def is_dynamic(self) -> bool:
        return self.footer.disk_type in (c.DISK_TYPE_DYNAMIC,
                                         c.DISK_TYPE_DIFFERENCING)

    @property
    def spb(self) -> int:
        """Sectors per block."""
        return (self.header.block_size >> 9) if self.header else 0

    @property
    def bm_secs(self) -> int:
        """Sectors of each block's bitmap."""
        return secs_no_zero(self.spb >> 3)

    @property
    def current_blocks(self) -> int:
        """The BAT entries libvhd reads: ``curr_size >> 21``."""
        return self.footer.current_size >> BLOCK_SHIFT


def open_fd(path: str) -> int:
    """Open read-only; a directory or FIFO gives libvhd's errno, not a hang."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK
                     | getattr(os, 'O_CLOEXEC', 0))
    except OSError as error:
        raise LibvhdError(error.errno or errno.EIO,
                          describe_os_error(error)) from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        os.close(fd)
        raise LibvhdError(errno.EISDIR, 'is a directory')
    if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):
        os.close(fd)
        raise LibvhdError(errno.EINVAL, 'not a regular file or block device')
    os.set_blocking(fd, True)
    return fd


def read_footer(fd: int, size: int) -> Footer:
    """``vhd_read_footer``: the end, else a 511-byte short footer, else 0."""
    last: Optional[Footer] = None
    for offset, length in ((size - 512, 512), (size - 511, 511), (0, 512)):
        if offset < 0:
            continue  # the seek fails with EINVAL: try the next place
        if length == 511:
            data = pread_full(fd, 512, offset)  # a short read is expected
        else:
            data = vhd_read(fd, 512, offset)
        footer = Footer.parse(data.ljust(512, b'\0'))
        if footer_usable(footer):
            return footer
        last = footer
    raise LibvhdError(errno.EINVAL, 'no valid footer' if last else
                      'the file is too small for a footer')


def open_vhd(path: str) -> Vhd:
    """``vhd_open(RDONLY | IGNORE_DISABLED)``: footer, then a dynamic header."""
    fd = open_fd(path)
    try:
        size = file_size(fd)
        footer = read_footer(fd, size)
        vhd = Vhd(path=path, fd=fd, file_size=size, footer=footer)
        if vhd.is_dynamic:
            header = DynamicHeader.parse(
                vhd_read(fd, c.HEADER_SIZE, footer.data_offset))
            problem = header_problem(header)
            if problem:
                raise LibvhdError(errno.EINVAL, f'header: {problem}')
            vhd.header = header
        return vhd
    except BaseException:
        os.close(fd)
        raise


def is_tapdisk(footer: Footer) -> bool:
    return footer.creator_application[:3] == b'tap'


def batmap_header_offset(vhd: Vhd) -> int:
    assert vhd.header is not None
    return vhd.header.table_offset + padded(vhd.header.max_table_entries * 4)


def read_batmap_header(vhd: Vhd) -> BatmapHeader:
    data = vhd_read(vhd.fd, c.SECTOR_SIZE, batmap_header_offset(vhd))
    return BatmapHeader.parse(data)


def batmap_header_ok(header: BatmapHeader) -> bool:
    """``vhd_validate_batmap_header``: cookie and a version we know."""
    return (header.cookie == c.BATMAP_COOKIE
            and header.batmap_version <= c.BATMAP_VERSION_1_2)


def has_batmap(vhd: Vhd) -> bool:
    """``vhd_has_batmap``: tap 1.2 and later always; tap 1.1 if one is there."""
    footer = vhd.footer
    if not vhd.is_dynamic or not is_tapdisk(footer):
        return False
    if footer.creator_version <= TAP_0_1:
        return False
    if footer.creator_version >= TAP_1_2:
        return True
    try:
        return batmap_header_ok(read_batmap_header(vhd))
    except LibvhdError:
        return False


def batmap_map_size(current_size: int) -> int:
    """Bytes of the map libvhd reads and checksums."""
    return secs_no_zero(current_size >> (BLOCK_SHIFT + 3)) * c.SECTOR_SIZE


def batmap_checksum(header: BatmapHeader, bitmap: bytes) -> int:
    """Version 1.1 summed the bytes as signed chars; later versions unsigned."""
    total = sum(bitmap)
    if header.batmap_version == BATMAP_1_1:
        total -= 256 * sum(1 for byte in bitmap if byte >= 0x80)
    return ~total & 0xFFFFFFFF


@dataclasses.dataclass
class Batmap:
    header: BatmapHeader
    map: bytes

    def test(self, block: int) -> bool:
        """``vhd_batmap_test``: bits past the map's size read as clear."""
        if block >= self.header.batmap_size << 12 or block >> 3 >= len(self.map):
            return False
        return bool(self.map[block >> 3] & (0x80 >> (block & 7)))


def read_batmap(vhd: Vhd) -> Batmap:
    """``vhd_read_batmap``: header, then the map, validated."""
    header = read_batmap_header(vhd)
    if not batmap_header_ok(header):
        raise LibvhdError(errno.EINVAL, 'batmap header: invalid cookie or '
                                        'version')
    size = batmap_map_size(vhd.footer.current_size)
    if header.batmap_size * c.SECTOR_SIZE < size:
        # libvhd asserts here (and crashes); say why instead.
        raise LibvhdError(errno.EINVAL, 'batmap is smaller than the disk')
    bitmap = vhd_read(vhd.fd, size, header.batmap_offset)
    if batmap_checksum(header, bitmap) != header.checksum:
        raise LibvhdError(errno.EINVAL, 'batmap checksum '
                                        f'{header.checksum:#x} does not match '
                                        f'{batmap_checksum(header, bitmap):#x}')
    return Batmap(header, bitmap)


def end_of_headers(vhd: Vhd, batmap: Optional[Batmap] = None) -> int:
    """``vhd_end_of_headers``: the first byte that is not metadata."""
    header = vhd.header
    assert header is not None
    end = max(vhd.footer.data_offset + c.HEADER_SIZE,
              header.table_offset + padded(header.max_table_entries * 4))
    if has_batmap(vhd):
        batmap = batmap or read_batmap(vhd)
        end = max(end, batmap_header_offset(vhd) + c.SECTOR_SIZE,
                  batmap.header.batmap_offset
                  + batmap.header.batmap_size * c.SECTOR_SIZE)
    for code, space, _length, _reserved, offset in locators(header):
        if code:
            end = max(end, offset + locator_size(space))
    return end


def check_bat_readable(vhd: Vhd) -> None:
    """``vhd_read_bat``'s own failures, found before any entry is used."""
    header = vhd.header
    assert header is not None
    if vhd.current_blocks > header.max_table_entries:
        # libvhd asserts (and crashes); say why instead.
        raise LibvhdError(errno.EINVAL, f'VHD size ({vhd.current_blocks} '
                                        'blocks) exceeds BAT size '
                                        f'({header.max_table_entries})')
    length = padded(vhd.current_blocks * 4)
    offset = header.table_offset
    if length and offset + length > vhd.file_size:
        if offset >= MAX_OFFSET:
            raise LibvhdError(errno.EINVAL, 'BAT offset too large')
        code = errno.EPIPE if offset >= vhd.file_size else errno.EIO
        raise LibvhdError(code, 'BAT runs past the end of the file')


def iter_bat(vhd: Vhd, start: int = 0) -> Iterator[Tuple[int, array.array]]:
    """Yield ``(first_index, entries)`` chunks of the current blocks' BAT."""
    header = vhd.header
    assert header is not None
    count = vhd.current_blocks
    for first in range(start, count, BAT_CHUNK):
        number = min(BAT_CHUNK, count - first)
        data = pread_full(vhd.fd, number * 4, header.table_offset + first * 4)
        data = data.ljust(number * 4, b'\0')
        entries = array.array('I', data)
        if sys.byteorder == 'little':
            entries.byteswap()
        yield first, entries


def end_of_data(vhd: Vhd) -> int:
    """``vhd_end_of_data``: the end of the last block or of the metadata."""
    if not vhd.is_dynamic:
        return vhd.file_size - c.FOOTER_SIZE
    end = end_of_headers(vhd) >> 9
    check_bat_readable(vhd)
    span = vhd.spb + vhd.bm_secs
    for _first, entries in iter_bat(vhd):
        for entry in entries:
            if entry != c.UNALLOCATED:
                end = max(end, entry + span)
    return end * c.SECTOR_SIZE


def decode_parent_name(vhd: Vhd) -> Optional[str]:
    """``vhd_header_decode_parent``: UTF-16 (BE, or any for tap 0.1) to ASCII."""
    assert vhd.header is not None
    raw = vhd.header.parent_unicode_name
    encoding = 'utf-16-be'
    if is_tapdisk(vhd.footer) and vhd.footer.creator_version == TAP_0_1:
        encoding = 'utf-16-le' if raw[:2] == b'\xff\xfe' else 'utf-16-be'
        if raw[:2] in (b'\xff\xfe', b'\xfe\xff'):
            raw = raw[2:]
    try:
        name = raw.decode(encoding)
    except UnicodeDecodeError:
        return None
    if any(ord(char) > 127 for char in name):
        return None
    return name.split('\0', 1)[0]
