"""``vhd-util read`` output: the footer, header and batmap summaries.

Line for line as blktap's ``vhd-util-read.c`` prints them, so scripts that
scrape them keep working.  Timestamps are rendered in UTC (vhd-util uses the
host's zone; XenServer hosts run in UTC).
"""

from __future__ import annotations

import os
import uuid

from diskimage_vhd.format import constants as c
from diskimage_vhd.format.creators import HOST_OS_NAMES
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.format import locate
from diskimage_vhd.format.locator import PlatformCode
from diskimage_vhd.format import timestamps
from diskimage_vhd.posix.io import file_size
from diskimage_vhd.posix.io import MAX_OFFSET
from diskimage_vhd.posix.io import pread_full
from diskimage_vhd.xen import libvhd
from diskimage_vhd.xen.parents import read_locator

DISK_TYPES = ('None', 'Reserved (deprecated)', 'Fixed hard disk',
              'Dynamic hard disk', 'Differencing hard disk',
              'Reserved (deprecated)', 'Reserved (deprecated)')
_DAYS = ('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')
_MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep',
           'Oct', 'Nov', 'Dec')


def conv(number: int, hexadecimal: bool) -> str:
    """vhd-util's ``conv``: ``%llu``, or ``%#llx`` (which prints 0 as ``0``)."""
    number &= 0xFFFFFFFFFFFFFFFF
    if not hexadecimal:
        return str(number)
    return f'{number:#x}' if number else '0'


def ctime(vhd_seconds: int) -> str:
    """``ctime`` of a VHD timestamp, without its newline."""
    moment = timestamps.as_datetime(vhd_seconds)
    return (f'{_DAYS[moment.weekday()]} {_MONTHS[moment.month - 1]} '
            f'{moment.day:2d} {moment:%H:%M:%S} {moment.year}')


def c_string(raw: bytes) -> str:
    """Bytes up to the first NUL, as ``printf("%s")`` shows them."""
    return raw.split(b'\0', 1)[0].decode('ascii', 'surrogateescape')


def footer_lines(footer: Footer, hexadecimal: bool = False) -> list[str]:
    """``vhd_print_footer``."""
    x = hexadecimal
    features = footer.features
    cyl, heads, spt = (footer.cylinders, footer.heads,
                       footer.sectors_per_track)
    chs = cyl * heads * spt
    os_name = HOST_OS_NAMES.get(footer.creator_host_os, 'Unknown!')
    kind = (DISK_TYPES[footer.disk_type] if footer.disk_type < len(DISK_TYPES)
            else 'Unknown type!\n')
    computed = footer.computed_checksum()
    hidden = footer.hidden - 256 if footer.hidden > 127 else footer.hidden
    return [
        'VHD Footer Summary:',
        '-------------------',
        f'Cookie              : {c_string(footer.cookie)}',
        f'Features            : (0x{features:08x}) '
        f'{"<TEMP>" if features & 1 else ""}{"<RESV>" if features & 2 else ""}',
        f'File format version : Major: {footer.file_format_version >> 16}, '
        f'Minor: {footer.file_format_version & 0xFFFF}',
        f'Data offset         : {conv(footer.data_offset, x)}',
        f'Timestamp           : {ctime(footer.timestamp)}',
        f"Creator Application : '{c_string(footer.creator_application)}'",
        f'Creator version     : Major: {footer.creator_version >> 16}, '
        f'Minor: {footer.creator_version & 0xFFFF}',
        f'Creator OS          : {os_name}',
        f'Original disk size  : {conv(footer.original_size >> 20, x)} MB '
        f'({conv(footer.original_size, x)} Bytes)',
        f'Current disk size   : {conv(footer.current_size >> 20, x)} MB '
        f'({conv(footer.current_size, x)} Bytes)',
        f'Geometry            : Cyl: {conv(cyl, x)}, Hds: {conv(heads, x)}, '
        f'Sctrs: {conv(spt, x)}',
        f'                    : = {conv(chs >> 11, x)} MB '
        f'({conv(chs << 9, x)} Bytes)',
        f'Disk type           : {kind}',
        f'Checksum            : 0x{footer.checksum:x}|0x{computed:x} '
        f'({"Good!" if footer.checksum == computed else "Bad!"})',
        f'UUID                : {uuid.UUID(bytes=footer.unique_id)}',
        f'Saved state         : {"No" if footer.saved_state == 0 else "Yes"}',
        f'Hidden              : {hidden}',
        '',
    ]


def header_lines(vhd: libvhd.Vhd, header: DynamicHeader,
                 hexadecimal: bool = False) -> list[str]:
    """``vhd_print_header``."""
    x = hexadecimal
    name = libvhd.decode_parent_name(_with_header(vhd, header))
    computed = header.computed_checksum()
    return [
        'VHD Header Summary:',
        '-------------------',
        f'Cookie              : {c_string(header.cookie)}',
        f'Data offset (unusd) : {conv(header.data_offset, x)}',
        f'Table offset        : {conv(header.table_offset, x)}',
        f'Header version      : 0x{header.header_version:08x}',
        f'Max BAT size        : {conv(header.max_table_entries, x)}',
        f'Block size          : {conv(header.block_size, x)} '
        f'({conv(header.block_size >> 20, x)} MB)',
        'Parent name         : '
        + (name if name is not None else 'failed to read name'),
        f'Parent UUID         : {uuid.UUID(bytes=header.parent_unique_id)}',
        f'Parent timestamp    : {ctime(header.parent_timestamp)}',
        f'Checksum            : 0x{header.checksum:x}|0x{computed:x} '
        f'({"Good!" if header.checksum == computed else "Bad!"})',
        '',
    ]


def _with_header(vhd: libvhd.Vhd, header: DynamicHeader) -> libvhd.Vhd:
    """The disk as seen through ``header`` (the dump may hold another one)."""
    if vhd.header is header:
        return vhd
    return libvhd.Vhd(vhd.path, vhd.fd, vhd.file_size, vhd.footer, header)


def locator_lines(vhd: libvhd.Vhd, hexadecimal: bool = False) -> list[str]:
    """``vhd_print_parent_locators`` (differencing disks only)."""
    assert vhd.header is not None
    lines = ['VHD Parent Locators:', '--------------------']
    for index, locator in enumerate(vhd.header.locators):
        if locator.code == 0:
            continue
        name = read_locator(vhd, locator)
        code = locator.code
        code_name = (f'PLAT_CODE_{PlatformCode(code).name}'
                     if code in PlatformCode._value2member_map_ else 'UNKOWN')
        lines += [
            f'locator:            : {index}',
            f'       code         : {code_name}',
            f'       data_space   : {conv(locator.data_space, hexadecimal)}',
            f'       data_length  : {conv(locator.data_length, hexadecimal)}',
            f'       data_offset  : {conv(locator.data_offset, hexadecimal)}',
            ('failed to read parent name' if name is None
             else f'       decoded name : {name}'),
            '',
        ]
    return lines


def batmap_lines(vhd: libvhd.Vhd, batmap: libvhd.Batmap,
                 hexadecimal: bool = False) -> list[str]:
    """``vhd_print_batmap_header``."""
    header = batmap.header
    computed = batmap.computed_checksum
    return [
        'VHD Batmap Summary:',
        '-------------------',
        f'Batmap offset       : {conv(header.batmap_offset, hexadecimal)}',
        f'Batmap size (secs)  : {conv(header.batmap_size, hexadecimal)}',
        f'Batmap version      : 0x{header.batmap_version:08x}',
        f'Checksum            : 0x{header.checksum:x}|0x{computed:x} '
        f'({"Good!" if header.checksum == computed else "Bad!"})',
        '',
    ]


def headers_lines(vhd: libvhd.Vhd, hexadecimal: bool = False) -> list[str]:
    """``vhd_print_headers``: all of ``read -p``."""
    lines = footer_lines(vhd.footer, hexadecimal)
    if vhd.is_dynamic and vhd.header is not None:
        lines += header_lines(vhd, vhd.header, hexadecimal)
        if vhd.footer.is_differencing:
            lines += locator_lines(vhd, hexadecimal)
        if libvhd.has_batmap(vhd):
            try:
                batmap = libvhd.read_batmap(vhd)
            except libvhd.LibvhdError:
                lines.append('failed to get batmap header')
                return lines
            lines += batmap_lines(vhd, batmap, hexadecimal)
    return lines


def dump_lines(path: str, hexadecimal: bool = False) -> list[str]:
    """``vhd_dump_headers``: what ``read`` shows of a file it cannot open.

    Like libvhd it keeps the last footer it tried (the copy at offset 0)
    and a header only where that footer says the disk is dynamic.
    """
    lines = ['', f'{path} appears invalid; dumping headers', '']
    try:
        # Not a plain open: a FIFO without a writer would block it forever.
        fd = libvhd.open_fd(path)
    except libvhd.LibvhdError:
        return lines
    try:
        size = file_size(fd)
        footer = _last_footer(fd, size)
        header = DynamicHeader.parse(bytes(c.HEADER_SIZE))
        vhd = libvhd.Vhd(path, fd, size, footer, header)
        if vhd.is_dynamic and footer.data_offset < MAX_OFFSET:
            try:
                data = pread_full(fd, c.HEADER_SIZE, footer.data_offset)
            except OSError:  # EINVAL: the offset plus 1024 overflows off_t
                data = b''
            if len(data) == c.HEADER_SIZE:
                header = DynamicHeader.parse(data)
                vhd.header = header
        lines += footer_lines(footer, hexadecimal)
        lines += header_lines(vhd, header, hexadecimal)
    finally:
        os.close(fd)
    return lines


def _last_footer(fd: int, size: int) -> Footer:
    try:
        return libvhd.read_footer(fd, size)
    except libvhd.LibvhdError:
        pass
    # No footer anywhere: vhd-util dumps whatever the copy's place holds.
    offset, length = locate.span(locate.COPY, size)
    data = pread_full(fd, length, offset)
    return Footer.parse(data.ljust(c.FOOTER_SIZE, b'\0'))
