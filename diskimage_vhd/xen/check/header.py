"""Header rules: ``vhd_util_check_header``, libvhd's open, and the
differencing fields of the header."""

from __future__ import annotations

import errno

from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.posix.io import MAX_OFFSET
from diskimage_vhd.posix.io import pread_full
from diskimage_vhd.xen.check.context import CheckRun
from diskimage_vhd.xen.check.footers import latest_timestamp
from diskimage_vhd.xen.check.footers import MASK64
from diskimage_vhd.xen.check.problems import Fault
from diskimage_vhd.xen.check.problems import stop
from diskimage_vhd.xen import libvhd


def header_fault(header: DynamicHeader, file_size: int) -> Fault | None:
    """``vhd_util_check_validate_header``: the first field at fault."""
    if header.cookie != c.HEADER_COOKIE:
        return Fault('cookie', 'invalid cookie')
    if header.checksum != header.computed_checksum():
        return Fault('checksum', 'invalid checksum')
    if header.header_version != c.HEADER_VERSION:
        return Fault('version', 'invalid header version')
    if header.data_offset != c.NO_DATA_OFFSET:
        return Fault('data-offset', 'invalid data offset')
    if (header.table_offset == 0 or header.table_offset % c.SECTOR_SIZE
            or header.table_end & MASK64
            > (file_size - c.FOOTER_SIZE) & MASK64):
        return Fault('table-offset', 'invalid table offset')
    if bin(header.block_size).count('1') != 1:
        return Fault('block-size', 'invalid block size')
    if header.reserved1 or any(header.reserved2):
        return Fault('reserved', 'invalid reserved bits')
    return None


def check_header(run: CheckRun, footer: Footer) -> None:
    """``vhd_util_check_header``: the dynamic header at the data offset."""
    offset = footer.data_offset
    if offset >= MAX_OFFSET:
        raise stop('header-offset', f'error seeking to header: {-errno.EINVAL}')
    data = pread_full(run.fd, c.HEADER_SIZE, offset)
    if len(data) != c.HEADER_SIZE:
        raise stop('header-unreadable', f'error reading header: {-errno.EIO}',
                   errno_code=errno.EIO,
                   detail=f'data offset {offset} is past the end of the file')
    header = DynamicHeader.parse(data)
    fault = header_fault(header, run.size)
    if fault:
        detail = None
        if fault.code == 'checksum':
            detail = (f'header checksum {header.checksum:#010x}, '
                      f'computed {header.computed_checksum():#010x}')
        raise stop(f'header-{fault.code}', f'header is invalid: {fault.text}',
                   detail=detail)


def open_like_libvhd(run: CheckRun) -> libvhd.Vhd:
    """``vhd_open``; it fails silently in vhd-util, so name the reason."""
    try:
        return libvhd.open_vhd(run.path)
    except libvhd.LibvhdError as error:
        if error.kind == 'locator-platform-code':
            footer = run.footer
            if footer and footer.is_differencing:
                raise stop('locator-platform-code',
                           f'invalid parent locator {error.locator}: invalid '
                           'platform code', detail=error.reason,
                           locator=error.locator) from None
            raise stop('differencing-header-locators',
                       'differencing header is invalid: invalid non-null '
                       'parent locators', detail=error.reason) from None
        raise stop('libvhd-open', f'error opening {run.path}: {-error.errno}',
                   errno_code=error.errno, detail=error.reason) from None


def differencing_fault(vhd: libvhd.Vhd, run: CheckRun) -> Fault | None:
    """``vhd_util_check_validate_differencing_header``."""
    header = vhd.header
    assert header is not None
    if vhd.footer.is_differencing:
        if (not run.options.ignore_timestamps
                and header.parent_timestamp > latest_timestamp(run.now)):
            return Fault('parent-future', 'parent creation time in future')
        if libvhd.decode_parent_name(vhd) is None:
            return Fault('parent-name', 'invalid parent name')
        return None
    if any(header.parent_unicode_name):
        return Fault('name', 'invalid non-null parent name')
    if any(header.parent_locators):
        return Fault('locators', 'invalid non-null parent locators')
    if any(header.parent_unique_id):
        return Fault('uuid', 'invalid non-null parent uuid')
    if header.parent_timestamp:
        return Fault('timestamp', 'invalid non-zero parent timestamp')
    return None


def check_differencing_header(run: CheckRun, vhd: libvhd.Vhd) -> None:
    fault = differencing_fault(vhd, run)
    if fault:
        raise stop(f'differencing-header-{fault.code}',
                   f'differencing header is invalid: {fault.text}')
