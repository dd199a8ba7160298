"""Footer rules: ``vhd_util_check_footer`` and its validation."""

from __future__ import annotations

import errno

from diskimage_vhd.format import constants as c
from diskimage_vhd.format import creators
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.geometry import chs_geometry
from diskimage_vhd.format import locate
from diskimage_vhd.format import timestamps
from diskimage_vhd.posix.io import pread_full
from diskimage_vhd.xen.check.context import CheckRun
from diskimage_vhd.xen.check.problems import Fault
from diskimage_vhd.xen.check.problems import stop
from diskimage_vhd.xen.tolerances import TIMESTAMP_MAX_SLACK
MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF


def latest_timestamp(now: float) -> int:
    """The latest VHD time vhd-util accepts, wrapped as libvhd wraps it."""
    return (timestamps.wrapped(now) + TIMESTAMP_MAX_SLACK) & MASK32


def libvhd_chs(size: int) -> int:
    """``vhd_chs``: the packed geometry for ``size``, with its 32-bit sectors."""
    sectors = ((size + 511) & MASK64) >> 9
    sectors = (sectors or 1) & MASK32
    geometry = chs_geometry(sectors * c.SECTOR_SIZE)
    return (geometry.cylinders << 16 | geometry.heads << 8
            | geometry.sectors_per_track)


def footer_fault(footer: Footer, ignore_timestamps: bool,
                 now: float) -> Fault | None:
    """``vhd_util_check_validate_footer``: the first field at fault."""
    if footer.cookie != c.FOOTER_COOKIE:
        return Fault('cookie', 'invalid cookie')
    if not footer.checksum_ok():
        return Fault('checksum', 'invalid checksum')
    if not footer.features & c.FEATURES_RESERVED:
        return Fault('features', "invalid 'reserved' feature")
    if footer.features & ~0x3:
        return Fault('extra-features', 'invalid extra features')
    if footer.file_format_version != c.FILE_FORMAT_VERSION:
        return Fault('version', 'invalid file format version')
    if not footer.is_dynamic and footer.data_offset != c.NO_DATA_OFFSET:
        return Fault('data-offset', 'invalid data offset')
    if not ignore_timestamps and footer.timestamp > latest_timestamp(now):
        return Fault('future', 'creation time in future')
    if footer.is_tapdisk and footer.creator_version > creators.TAP_1_3:
        return Fault('creator-version', 'unsupported tap creator version')
    geometry = (footer.cylinders << 16 | footer.heads << 8
                | footer.sectors_per_track)
    if libvhd_chs(footer.current_size) < geometry:
        return Fault('geometry', 'geometry too large')
    if footer.disk_type not in (c.DISK_TYPE_FIXED, c.DISK_TYPE_DYNAMIC,
                                c.DISK_TYPE_DIFFERENCING):
        return Fault('type', 'invalid type')
    if footer.saved_state not in (0, 1):
        return Fault('saved', "invalid 'saved' state")
    if footer.hidden not in (0, 1):
        return Fault('hidden', "invalid 'hidden' state")
    if any(footer.reserved):
        return Fault('reserved', "invalid 'reserved' bits")
    if not any(footer.unique_id):
        return Fault('uuid', 'invalid (NULL) uuid')
    return None


# Why a footer without its cookie means the file is no VHD, for each copy.
NO_COOKIE = {
    'primary': 'its last 512 bytes are not a VHD footer, which starts '
               'with "conectix": it is not a VHD, or a VHD cut short',
    'backup': 'its first 512 bytes are not the copy of the footer a '
              'dynamic VHD starts with, which starts with "conectix"',
}


def _detail(which: str, footer: Footer, fault: Fault) -> str | None:
    if fault.code == 'cookie':
        return NO_COOKIE[which]
    if fault.code == 'checksum':
        return (f'footer checksum {footer.checksum:#010x}, computed '
                f'{footer.computed_checksum():#010x}')
    if fault.code == 'future':
        return f'created {timestamps.iso(footer.timestamp)}'
    return None


def _invalid(which: str, footer: Footer, fault: Fault) -> Exception:
    return stop(f'{which}-footer-{fault.code}',
                f'{which} footer invalid: {fault.text}',
                detail=_detail(which, footer, fault), footer=which)


def check_footers(run: CheckRun) -> Footer:
    """``vhd_util_check_footer``: primary (end), then backup (offset 0)."""
    options = run.options

    def read(length: int, offset: int) -> bytes:
        return pread_full(run.fd, length, offset)

    # vhd-util check takes any size short of whole sectors for a short footer.
    place = locate.SHORT if run.size % c.SECTOR_SIZE else locate.END
    offset, _length = locate.span(place, run.size)
    if offset < 0:
        raise stop('file-too-small',
                   f'error calculating end of file: {-errno.EINVAL}',
                   detail=f'{run.size} bytes is too small for a VHD')
    found = locate.read_at(place, run.size, read)
    if found is None:
        raise stop('primary-footer-unreadable',
                   f'error reading primary footer: {-errno.EIO}',
                   errno_code=errno.EIO)
    primary_raw = found.raw.ljust(c.FOOTER_SIZE, b'\0')
    primary = found.footer
    if primary.cookie == c.FOOTER_COOKIE:
        run.footer = primary  # for the readiness warnings
    fault = footer_fault(primary, options.ignore_timestamps, run.now)
    if fault:
        run.primary_missing = True
        if not options.ignore_footer:
            raise _invalid('primary', primary, fault)
    elif primary.disk_type == c.DISK_TYPE_FIXED:
        return primary
    found = locate.read_at(locate.COPY, run.size, read)
    if found is None:
        raise stop('backup-footer-unreadable',
                   f'error reading backup footer: {-errno.EIO}',
                   errno_code=errno.EIO)
    backup_raw, backup = found.raw, found.footer
    fault = footer_fault(backup, options.ignore_timestamps, run.now)
    if fault:
        raise _invalid('backup', backup, fault)
    if primary_raw != backup_raw:
        if options.ignore_footer:
            return backup
        if (backup.hidden_outside_checksum
                and backup.unhidden().pack() == primary_raw):
            return primary
        raise stop('footers-differ', 'primary and backup footers do not match')
    return primary
