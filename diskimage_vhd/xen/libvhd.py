"""What XenServer's libvhd sees when it opens a file, errno results included.

vhd-util's ``check``, ``read`` and ``query`` print libvhd's return codes
(``error opening F: -22``), so this module reproduces its reads: which
offsets it reads, which checks make ``vhd_open`` fail, and with which errno.
Reads are bounded: the BAT is streamed in chunks, never loaded whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
import dataclasses
import errno
import os

from diskimage_vhd.errors import describe_os_error
from diskimage_vhd.errors import VhdError
from diskimage_vhd.format import bat as batlib
from diskimage_vhd.format.batmap import BatmapHeader
from diskimage_vhd.format.batmap import checksummed_bytes
from diskimage_vhd.format.batmap import map_checksum
from diskimage_vhd.format.bitmap import bit_is_set
from diskimage_vhd.format import constants as c
from diskimage_vhd.format import creators
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.format.layout import HeaderLayout
from diskimage_vhd.format import locate
from diskimage_vhd.format.locator import is_platform_code
from diskimage_vhd.format.units import ceil_div
from diskimage_vhd.format.units import sector_padded
from diskimage_vhd.image import parents
from diskimage_vhd.posix.extents import data_extents
from diskimage_vhd.posix.io import file_size
from diskimage_vhd.posix.io import MAX_OFFSET
from diskimage_vhd.posix.io import open_input
from diskimage_vhd.posix.io import OpenFile
from diskimage_vhd.posix.io import pread_full

POISON_COOKIE = b'v_poison'
BLOCK_SHIFT = 21  # libvhd sizes disks in 2 MiB blocks whatever the header says
BAT_CHUNK = 1 << 16  # entries read at a time


class LibvhdError(Exception):
    """A libvhd call failed; vhd-util prints ``-errno``.

    ``kind`` names the failure where a caller must tell it from others
    (``'locator-platform-code'``, with ``locator`` the entry's index;
    ``'bat-smaller-than-disk'``), so no one reads the reason's words.
    """

    def __init__(self, code: int, reason: str = '', *,
                 kind: str | None = None, locator: int | None = None):
        self.errno = code
        self.reason = reason or os.strerror(code)
        self.kind = kind
        self.locator = locator
        super().__init__(f'{-code}')


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


def footer_usable(footer: Footer) -> bool:
    """``vhd_validate_footer``: a cookie (or the poison cookie) and checksum."""
    return (footer.cookie in (c.FOOTER_COOKIE, POISON_COOKIE)
            and footer.checksum_ok())


def header_problem(header: DynamicHeader) -> LibvhdError | None:
    """``vhd_validate_header``: why it fails, or None."""
    reason = None
    if header.cookie != c.HEADER_COOKIE:
        reason = 'invalid cookie'
    elif header.header_version != c.HEADER_VERSION:
        reason = 'invalid header version'
    elif header.data_offset != c.NO_DATA_OFFSET:
        reason = 'invalid data offset'
    else:
        for index, locator in enumerate(header.locators):
            if not is_platform_code(locator.code):
                return LibvhdError(
                    errno.EINVAL, f'header: invalid parent locator {index} '
                                  f'platform code {locator.code:#x}',
                    kind='locator-platform-code', locator=index)
        if header.checksum != header.computed_checksum():
            reason = 'invalid checksum'
    return LibvhdError(errno.EINVAL, f'header: {reason}') if reason else None


@dataclasses.dataclass
class Vhd(OpenFile):
    """An opened disk as libvhd's ``vhd_context_t`` holds it."""

    path: str
    fd: int
    file_size: int
    footer: Footer
    header: DynamicHeader | None = None

    @property
    def is_dynamic(self) -> bool:
        return self.footer.is_dynamic

    @property
    def is_differencing(self) -> bool:
        return self.footer.is_differencing

    @property
    def layout(self) -> HeaderLayout:
        assert self.header is not None
        return HeaderLayout.of(self.footer, self.header)

    @property
    def spb(self) -> int:
        """Sectors per block."""
        return (self.header.block_size >> 9) if self.header else 0

    @property
    def bm_secs(self) -> int:
        """Sectors of each block's bitmap."""
        return self.layout.bitmap_bytes // c.SECTOR_SIZE

    @property
    def current_blocks(self) -> int:
        """The whole blocks ``vhd-util check`` looks at: ``curr_size >> 21``."""
        return self.footer.current_size >> BLOCK_SHIFT

    @property
    def bat_entries(self) -> int:
        """The BAT entries ``vhd_read_bat`` reads: a partial last block
        counts (``query -a``, ``query -s`` and ``read -b`` see it).
        """
        return ceil_div(self.footer.current_size, 1 << BLOCK_SHIFT)


def open_fd(path: str) -> int:
    """The one opener, its refusals as libvhd's errno (EISDIR for a
    directory, EINVAL for a FIFO or device), never a hang.
    """
    try:
        return open_input(path)
    except VhdError as error:
        raise LibvhdError(error.errno or errno.EIO, error.problem) from None


def read_footer(fd: int, size: int) -> Footer:
    """``vhd_read_footer``: the end, else a 511-byte short footer, else 0.

    A place the file is too small for is skipped (the seek fails with
    EINVAL); any other failed read is libvhd's errno.
    """
    def read(length: int, offset: int) -> bytes:
        if length < c.FOOTER_SIZE:  # the short footer: a short read is expected
            return pread_full(fd, length, offset)
        return vhd_read(fd, length, offset)

    found = locate.find_footer(size, read, locate.LIBVHD_PLACES, footer_usable)
    if found is not None:
        return found.footer
    raise LibvhdError(errno.EINVAL, 'no valid footer')


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
                raise problem
            vhd.header = header
        return vhd
    except BaseException:
        os.close(fd)
        raise


def read_batmap_header(vhd: Vhd) -> BatmapHeader:
    data = vhd_read(vhd.fd, c.SECTOR_SIZE, vhd.layout.batmap_header_offset)
    return BatmapHeader.parse(data)


def has_batmap(vhd: Vhd) -> bool:
    """``vhd_has_batmap``: tap 1.2 and later always; tap 1.1 if one is there."""
    if not vhd.is_dynamic:
        return False
    expected = creators.batmap_expected(vhd.footer.creator_application,
                                        vhd.footer.creator_version)
    if expected is not None:
        return expected
    try:
        return read_batmap_header(vhd).valid
    except LibvhdError:
        return False


@dataclasses.dataclass
class Batmap:
    header: BatmapHeader
    map: bytes

    @property
    def computed_checksum(self) -> int:
        return map_checksum(self.map, self.header.batmap_version)

    def test(self, block: int) -> bool:
        """``vhd_batmap_test``: bits past the map's size read as clear."""
        if not self.header.covers(block) or block >> 3 >= len(self.map):
            return False
        return bit_is_set(self.map, block)


def read_batmap(vhd: Vhd) -> Batmap:
    """``vhd_read_batmap``: header, then the map, validated."""
    header = read_batmap_header(vhd)
    if not header.valid:
        raise LibvhdError(errno.EINVAL, 'batmap header: invalid cookie or '
                                        'version')
    size = checksummed_bytes(vhd.footer.current_size)
    if header.batmap_size * c.SECTOR_SIZE < size:
        # libvhd asserts here (and crashes); say why instead.
        raise LibvhdError(errno.EINVAL, 'batmap is smaller than the disk')
    bitmap = vhd_read(vhd.fd, size, header.batmap_offset)
    batmap = Batmap(header, bitmap)
    if batmap.computed_checksum != header.checksum:
        raise LibvhdError(errno.EINVAL, 'batmap checksum '
                                        f'{header.checksum:#x} does not match '
                                        f'{batmap.computed_checksum:#x}')
    return batmap


def end_of_headers(vhd: Vhd, batmap: Batmap | None = None) -> int:
    """``vhd_end_of_headers``: the first byte that is not metadata."""
    header = vhd.header
    assert header is not None
    batmap_end = None
    if has_batmap(vhd):
        batmap = batmap or read_batmap(vhd)
        batmap_end = (batmap.header.batmap_offset
                      + batmap.header.batmap_size * c.SECTOR_SIZE)
    end = vhd.layout.metadata_end(batmap_end)
    for locator in header.locators:
        if locator.code:
            end = max(end, locator.data_offset + locator.data_bytes)
    return end


def check_bat_readable(vhd: Vhd) -> None:
    """``vhd_read_bat``'s own failures, found before any entry is used."""
    if not vhd.is_dynamic:
        raise LibvhdError(errno.EINVAL, 'a fixed disk has no BAT')
    header = vhd.header
    assert header is not None
    if vhd.current_blocks > header.max_table_entries:
        # libvhd asserts (and crashes); say why instead.
        raise LibvhdError(errno.EINVAL, f'VHD size ({vhd.current_blocks} '
                                        'blocks) exceeds BAT size '
                                        f'({header.max_table_entries})',
                          kind='bat-smaller-than-disk')
    if vhd.bat_entries > header.max_table_entries:
        raise LibvhdError(errno.EINVAL, f'more VHD blocks ({vhd.bat_entries}) '
                                        'than possible '
                                        f'({header.max_table_entries})')
    length = sector_padded(vhd.bat_entries * batlib.ENTRY_SIZE)
    offset = header.table_offset
    if length and offset + length > vhd.file_size:
        if offset >= MAX_OFFSET:
            raise LibvhdError(errno.EINVAL, 'BAT offset too large')
        code = errno.EPIPE if offset >= vhd.file_size else errno.EIO
        raise LibvhdError(code, 'BAT runs past the end of the file')


def iter_bat(vhd: Vhd, start: int = 0) -> Iterator[tuple[int, Sequence[int]]]:
    """Yield ``(first_index, entries)`` chunks of the current blocks' BAT."""
    header = vhd.header
    assert header is not None
    count = vhd.current_blocks
    for first in range(start, count, BAT_CHUNK):
        yield first, _read_entries(vhd, first, min(BAT_CHUNK, count - first))


def _read_entries(vhd: Vhd, first: int, number: int) -> Sequence[int]:
    """``number`` BAT entries from ``first``; past the file's end, zeros."""
    assert vhd.header is not None
    size = number * batlib.ENTRY_SIZE
    data = pread_full(vhd.fd, size,
                      vhd.header.table_offset + first * batlib.ENTRY_SIZE)
    return batlib.decode(data.ljust(size, b'\0'))


def bat_summary(vhd: Vhd) -> tuple[int, int]:
    """How many current blocks are allocated, and the highest sector an
    allocated entry names: what ``query -a`` and ``-s`` need.

    Holes in the table read as zeros, entries of sector 0, so they are
    counted without being read: a sparse file whose header claims 2^32
    entries costs a few system calls, not 16 GiB of reads.
    """
    header = vhd.header
    assert header is not None
    count = vhd.bat_entries
    table_end = header.table_offset + count * batlib.ENTRY_SIZE
    allocated = count
    highest = -1
    for start, end in data_extents(vhd.fd, header.table_offset, table_end):
        first = (start - header.table_offset) // batlib.ENTRY_SIZE
        last = ceil_div(end - header.table_offset, batlib.ENTRY_SIZE)
        for chunk in range(first, last, BAT_CHUNK):
            entries = _read_entries(vhd, chunk, min(BAT_CHUNK, last - chunk))
            allocated -= entries.count(c.UNALLOCATED)
            highest = max(highest, max((e for e in entries
                                        if e != c.UNALLOCATED), default=-1))
    if allocated and highest < 0:
        highest = 0  # only holes: every entry names sector 0
    return allocated, highest


def end_of_data(vhd: Vhd) -> int:
    """``vhd_end_of_data``: the end of the last block or of the metadata."""
    if not vhd.is_dynamic:
        return vhd.file_size - c.FOOTER_SIZE
    end = end_of_headers(vhd) >> 9
    check_bat_readable(vhd)
    _allocated, highest = bat_summary(vhd)
    if highest >= 0:
        end = max(end, highest + vhd.spb + vhd.bm_secs)
    return end * c.SECTOR_SIZE


def decode_parent_name(vhd: Vhd) -> str | None:
    """``vhd_header_decode_parent``: UTF-16 (BE, or any for tap 0.1) to ASCII."""
    assert vhd.header is not None
    return parents.decode_parent_name(vhd.footer, vhd.header)
