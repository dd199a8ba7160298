"""Checking a VHD as XenServer's ``vhd-util check`` does, plus XenServer use.

The rules, their order and their messages are vhd-util's (blktap's
``vhd-util-check.c`` on top of libvhd), so the first problem found is the one
vhd-util prints.  The checker works on raw bytes: a corrupt file is exactly
what it must describe, so it cannot rely on the reader, which refuses one.

Memory and time are bounded by the file, not by what its header claims: the
BAT is streamed in chunks, and overlapping blocks are found by sorting and
bisection rather than vhd-util's all-pairs loop.

Where vhd-util crashes (a libvhd assertion) or fails without a message, the
report says what is wrong in vhd-util's style; where it is lax by accident (a
non-zero *first* reserved byte passes its zero test), this checker is strict.
"""

from __future__ import annotations

import array
import bisect
import dataclasses
import datetime
import errno
import os
import re
import stat
import time
from typing import Dict, List, Optional, Tuple

from diskimage_vhd.errors import describe_os_error
from diskimage_vhd.errors import UsageError
from diskimage_vhd.errors import VhdError
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.geometry import chs_geometry
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.xen import libvhd
from diskimage_vhd.xen.parents import check_parent_locators
from diskimage_vhd.xen.parents import ParentProblem
from diskimage_vhd.xen.readiness import readiness_warnings
from diskimage_vhd.xen.readiness import TIMESTAMP_MAX_SLACK

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF
# Blocks checked for overlaps in one pass: bounds memory whatever the BAT.
OVERLAP_BATCH = 1 << 20
DATA_CHUNK_SECTORS = 2048


@dataclasses.dataclass
class CheckReport:
    """The verdict on one file.

    ``error`` is the line vhd-util prints for the first problem (None if the
    file is valid); ``exit_code`` is vhd-util's exit status for it (22,
    EINVAL, for most); ``detail`` says more where vhd-util's line is terse;
    ``warnings`` are what would misbehave on XenServer though vhd-util passes.
    """

    path: str
    error: Optional[str] = None
    warnings: List[str] = dataclasses.field(default_factory=list)
    exit_code: int = 0
    detail: Optional[str] = None
    disk_type: Optional[str] = None

    @property
    def valid(self) -> bool:
        return self.error is None

    def to_dict(self) -> Dict[str, object]:
        return {'path': self.path, 'valid': self.valid, 'error': self.error,
                'detail': self.detail, 'warnings': list(self.warnings),
                'exit_code': self.exit_code, 'disk_type': self.disk_type}


@dataclasses.dataclass(frozen=True)
class CheckOptions:
    """vhd-util check's switches: -b, -i, -t, -B and -I."""

    check_bitmaps: bool = False
    ignore_footer: bool = False
    ignore_timestamps: bool = False
    skip_overlaps: bool = False
    ignore_parent_uuid: bool = False


class Invalid(Exception):
    """The first problem: vhd-util's message and the errno it exits with."""

    def __init__(self, message: str, code: int = errno.EINVAL,
                 detail: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.detail = detail


def check(path: str | os.PathLike[str], check_bitmaps: bool = False,
          now: Optional[float] = None, *, ignore_footer: bool = False,
          ignore_timestamps: bool = False, skip_overlaps: bool = False,
          ignore_parent_uuid: bool = False) -> CheckReport:
    """Check ``path`` as ``vhd-util check [-b] [-i] [-t] [-B] [-I]`` does.

    ``now`` (Unix seconds, default the clock) is the time the footer's
    timestamp is judged against.  An unreadable file raises VhdError.
    """
    options = CheckOptions(check_bitmaps, ignore_footer, ignore_timestamps,
                           skip_overlaps, ignore_parent_uuid)
    if check_bitmaps and skip_overlaps:
        raise UsageError(None, 'not checking the BAT for overlaps (-B) '
                               'precludes checking bitmaps (-b)')
    path = os.fspath(path)
    now = time.time() if now is None else now
    report = CheckReport(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise VhdError(path, describe_os_error(error)) from error
    if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):
        report.error = f'{path} is not a regular file or block device'
        report.exit_code = errno.EINVAL
        return report
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0))
    except OSError as error:
        raise VhdError(path, describe_os_error(error)) from error
    checker = _Checker(path, fd, options, now)
    try:
        checker.run()
    except Invalid as problem:
        report.error = problem.message
        report.exit_code = problem.code
        report.detail = problem.detail
    except OSError as error:
        raise VhdError(path, describe_os_error(error)) from error
    finally:
        checker.close()
    if checker.footer is not None:
        report.disk_type = c.DISK_TYPE_NAMES.get(checker.footer.disk_type)
        report.warnings = readiness_warnings(checker.footer,
                                             checker.batmap_present, now)
    return report


def vhd_time(unix_seconds: float) -> int:
    """Seconds since 2000-01-01 as libvhd keeps them (32 bits)."""
    return (int(unix_seconds) - c.VHD_EPOCH) & MASK32


def libvhd_chs(size: int) -> int:
    """``vhd_chs``: the packed geometry for ``size``, with its 32-bit sectors."""
    sectors = ((size + 511) & MASK64) >> 9
    sectors = (sectors or 1) & MASK32
    geometry = chs_geometry(sectors * c.SECTOR_SIZE)
    return (geometry.cylinders << 16 | geometry.heads << 8
            | geometry.sectors_per_track)


def footer_problem(footer: Footer, options: CheckOptions,
                   now: float) -> Optional[str]:
    """``vhd_util_check_validate_footer``: the reason, or None."""
    if footer.cookie != c.FOOTER_COOKIE:
        return 'invalid cookie'
    if not libvhd.footer_checksum_ok(footer):
        return 'invalid checksum'
    if not footer.features & c.FEATURES_RESERVED:
        return "invalid 'reserved' feature"
    if footer.features & ~0x3:
        return 'invalid extra features'
    if footer.file_format_version != c.FILE_FORMAT_VERSION:
        return 'invalid file format version'
    if (footer.disk_type not in (c.DISK_TYPE_DYNAMIC, c.DISK_TYPE_DIFFERENCING)
            and footer.data_offset != c.NO_DATA_OFFSET):
        return 'invalid data offset'
    if not options.ignore_timestamps and footer.timestamp > (
            vhd_time(now) + TIMESTAMP_MAX_SLACK) & MASK32:
        return 'creation time in future'
    if (libvhd.is_tapdisk(footer)
            and footer.creator_version > c.CREATOR_VERSION_1_3):
        return 'unsupported tap creator version'
    geometry = (footer.cylinders << 16 | footer.heads << 8
                | footer.sectors_per_track)
    if libvhd_chs(footer.current_size) < geometry:
        return 'geometry too large'
    if footer.disk_type not in (c.DISK_TYPE_FIXED, c.DISK_TYPE_DYNAMIC,
                                c.DISK_TYPE_DIFFERENCING):
        return 'invalid type'
    if footer.saved_state not in (0, 1):
        return "invalid 'saved' state"
    if footer.hidden not in (0, 1):
        return "invalid 'hidden' state"
    if any(footer.reserved):
        return "invalid 'reserved' bits"
    if not any(footer.unique_id):
        return 'invalid (NULL) uuid'
    return None


def header_problem(header: DynamicHeader, file_size: int) -> Optional[str]:
    """``vhd_util_check_validate_header``: the reason, or None."""
    if header.cookie != c.HEADER_COOKIE:
        return 'invalid cookie'
    if header.checksum != header.computed_checksum():
        return 'invalid checksum'
    if header.header_version != c.HEADER_VERSION:
        return 'invalid header version'
    if header.data_offset != c.NO_DATA_OFFSET:
        return 'invalid data offset'
    table_end = (header.table_offset + header.max_table_entries * 4) & MASK64
    if (header.table_offset == 0 or header.table_offset % c.SECTOR_SIZE
            or table_end > (file_size - c.FOOTER_SIZE) & MASK64):
        return 'invalid table offset'
    if bin(header.block_size).count('1') != 1:
        return 'invalid block size'
    if header.reserved1 or any(header.reserved2):
        return 'invalid reserved bits'
    return None


def parent_header_problem(vhd: libvhd.Vhd, options: CheckOptions,
                          now: float) -> Optional[str]:
    """``vhd_util_check_validate_differencing_header``."""
    header = vhd.header
    assert header is not None
    if vhd.footer.disk_type == c.DISK_TYPE_DIFFERENCING:
        if not options.ignore_timestamps and header.parent_timestamp > (
                vhd_time(now) + TIMESTAMP_MAX_SLACK) & MASK32:
            return 'parent creation time in future'
        if libvhd.decode_parent_name(vhd) is None:
            return 'invalid parent name'
        return None
    if any(header.parent_unicode_name):
        return 'invalid non-null parent name'
    if any(header.parent_locators):
        return 'invalid non-null parent locators'
    if any(header.parent_unique_id):
        return 'invalid non-null parent uuid'
    if header.parent_timestamp:
        return 'invalid non-zero parent timestamp'
    return None


def bitmap_test(bitmap: bytes, sector: int, little_endian: bool) -> bool:
    """``vhd_bitmap_test``: MSB first, or 32-bit little-endian words (tap 0.1)."""
    if little_endian:
        word = sector >> 5
        byte = word * 4 + ((sector & 31) >> 3)
        return bool(bitmap[byte] & (1 << (sector & 7)))
    return bool(bitmap[sector >> 3] & (0x80 >> (sector & 7)))


class _Checker:
    """One run of the checks over an open file, first problem raised."""

    def __init__(self, path: str, fd: int, options: CheckOptions,
                 now: float):
        self.path = path
        self.fd = fd
        self.options = options
        self.now = now
        self.size = os.lseek(fd, 0, os.SEEK_END)
        self.footer: Optional[Footer] = None
        self.primary_missing = False
        self.batmap_present: Optional[bool] = None  # not looked at yet
        self.vhd: Optional[libvhd.Vhd] = None

    def close(self) -> None:
        if self.vhd is not None:
            self.vhd.close()
        os.close(self.fd)

    def run(self) -> None:
        self.footer = self.check_footers()
        if self.footer.disk_type not in (c.DISK_TYPE_DYNAMIC,
                                         c.DISK_TYPE_DIFFERENCING):
            return
        self.check_header(self.footer)
        vhd = self.vhd = self.open_like_libvhd()
        self.footer = vhd.footer
        problem = parent_header_problem(vhd, self.options, self.now)
        if problem:
            raise Invalid(f'differencing header is invalid: {problem}')
        batmap = self.check_bat(vhd)
        if batmap is not None:
            self.check_batmap(vhd, batmap)
        if vhd.footer.disk_type == c.DISK_TYPE_DIFFERENCING:
            try:
                check_parent_locators(vhd, self.options.ignore_parent_uuid)
            except ParentProblem as problem:
                raise Invalid(str(problem), problem.code) from None

    # -- footers and header -------------------------------------------------

    def check_footers(self) -> Footer:
        """``vhd_util_check_footer``: primary (end), then backup (offset 0)."""
        length = 511 if self.size % c.SECTOR_SIZE else 512
        if self.size < length:
            raise Invalid(f'error calculating end of file: {-errno.EINVAL}',
                          detail=f'{self.size} bytes is too small for a VHD')
        primary_raw = libvhd.pread_full(self.fd, 512, self.size - length)
        if len(primary_raw) != length:
            raise Invalid(f'error reading primary footer: {-errno.EIO}',
                          errno.EIO)
        primary_raw = primary_raw.ljust(512, b'\0')
        primary = Footer.parse(primary_raw)
        if primary.cookie == c.FOOTER_COOKIE:
            self.footer = primary  # for the readiness warnings
        problem = footer_problem(primary, self.options, self.now)
        if problem:
            self.primary_missing = True
            if not self.options.ignore_footer:
                raise Invalid(f'primary footer invalid: {problem}',
                              detail=self._footer_detail(primary, problem))
        elif primary.disk_type == c.DISK_TYPE_FIXED:
            return primary
        backup_raw = libvhd.pread_full(self.fd, 512, 0)
        if len(backup_raw) != 512:
            raise Invalid(f'error reading backup footer: {-errno.EIO}',
                          errno.EIO)
        backup = Footer.parse(backup_raw)
        problem = footer_problem(backup, self.options, self.now)
        if problem:
            raise Invalid(f'backup footer invalid: {problem}',
                          detail=self._footer_detail(backup, problem))
        if primary_raw != backup_raw:
            if self.options.ignore_footer:
                return backup
            if (backup.hidden and libvhd.is_tapdisk(backup)
                    and backup.creator_version in (libvhd.TAP_0_1,
                                                   libvhd.TAP_1_1)
                    and dataclasses.replace(backup, hidden=0).pack()
                    == primary_raw):
                return primary
            raise Invalid('primary and backup footers do not match')
        return primary

    def _footer_detail(self, footer: Footer, problem: str) -> Optional[str]:
        if problem == 'invalid checksum':
            return (f'footer checksum {footer.checksum:#010x}, computed '
                    f'{footer.computed_checksum():#010x}')
        if problem == 'creation time in future':
            stamp = datetime.datetime.fromtimestamp(
                footer.timestamp + c.VHD_EPOCH, datetime.timezone.utc)
            return f'created {stamp:%Y-%m-%dT%H:%M:%SZ}'
        return None

    def check_header(self, footer: Footer) -> None:
        """``vhd_util_check_header``: the dynamic header at the data offset."""
        offset = footer.data_offset
        if offset >= libvhd.MAX_OFFSET:
            raise Invalid(f'error seeking to header: {-errno.EINVAL}')
        data = libvhd.pread_full(self.fd, c.HEADER_SIZE, offset)
        if len(data) != c.HEADER_SIZE:
            raise Invalid(f'error reading header: {-errno.EIO}', errno.EIO,
                          detail=f'data offset {offset} is past the end of '
                                 'the file')
        header = DynamicHeader.parse(data)
        problem = header_problem(header, self.size)
        if problem:
            detail = None
            if problem == 'invalid checksum':
                detail = (f'header checksum {header.checksum:#010x}, '
                          f'computed {header.computed_checksum():#010x}')
            raise Invalid(f'header is invalid: {problem}', detail=detail)

    def open_like_libvhd(self) -> libvhd.Vhd:
        """``vhd_open``; it fails silently in vhd-util, so name the reason."""
        try:
            return libvhd.open_vhd(self.path)
        except libvhd.LibvhdError as error:
            if 'platform code' in error.reason:
                footer = self.footer
                if footer and footer.disk_type == c.DISK_TYPE_DIFFERENCING:
                    index = error.reason.split('locator ')[1].split()[0]
                    message = (f'invalid parent locator {index}: invalid '
                               'platform code')
                else:
                    message = ('differencing header is invalid: invalid '
                               'non-null parent locators')
                raise Invalid(message, detail=error.reason) from None
            raise Invalid(f'error opening {self.path}: {-error.errno}',
                          error.errno, detail=error.reason) from None

    # -- BAT ----------------------------------------------------------------

    def check_bat(self, vhd: libvhd.Vhd) -> Optional[libvhd.Batmap]:
        """``vhd_util_check_bat``; returns the batmap it had to read."""
        eof = self.size
        if eof % c.SECTOR_SIZE:
            if eof % c.SECTOR_SIZE != c.SECTOR_SIZE - 1:
                raise Invalid(f'invalid file size: 0x{eof:x}')
            eof += 1
        try:
            libvhd.check_bat_readable(vhd)
        except libvhd.LibvhdError as error:
            if error.reason.startswith('VHD size'):
                raise Invalid(error.reason) from None
            raise Invalid(f'error reading bat: {-error.errno}', error.errno,
                          detail=error.reason) from None
        batmap = None
        try:
            self.batmap_present = libvhd.has_batmap(vhd)
            if self.batmap_present:
                batmap = libvhd.read_batmap(vhd)
            end_of_headers = libvhd.end_of_headers(vhd, batmap)
        except libvhd.LibvhdError as error:
            raise Invalid(f'error calculating end of metadata: {-error.errno}',
                          error.errno, detail=error.reason) from None
        self.check_blocks(vhd, end_of_headers >> 9,
                          (eof - c.FOOTER_SIZE) >> 9, vhd.spb + vhd.bm_secs)
        return batmap

    def placement_problem(self, index: int, offset: int, eoh: int, eof: int,
                          span: int) -> Optional[str]:
        if offset < eoh:
            return f'block {index} (offset 0x{offset:x}) clobbers headers'
        if offset + span > eof and not (
                self.primary_missing and self.options.ignore_footer
                and offset + span == eof + 1):
            return f'block {index} (offset 0x{offset:x}) clobbers footer'
        return None

    def check_blocks(self, vhd: libvhd.Vhd, eoh: int, eof: int,
                     span: int) -> None:
        """Per block, in index order: headers, footer, overlaps, bitmap.

        vhd-util compares every pair; here a batch of blocks that sit inside
        the file is sorted by offset and each allocated block of the whole
        BAT is matched against it by bisection, giving the same first
        problem in O(n log n) time and bounded memory.
        """
        start = 0
        while True:
            indexes, offsets = array.array('I'), array.array('I')
            misplaced: Optional[Tuple[int, str]] = None
            resume: Optional[int] = None
            for first, entries in libvhd.iter_bat(vhd, start):
                for k, offset in enumerate(entries):
                    if offset == c.UNALLOCATED:
                        continue
                    problem = self.placement_problem(first + k, offset, eoh,
                                                     eof, span)
                    if problem:
                        misplaced = (first + k, problem)
                        break
                    indexes.append(first + k)
                    offsets.append(offset)
                    if len(indexes) >= OVERLAP_BATCH:
                        resume = first + k + 1
                        break
                if misplaced or resume is not None:
                    break
            clash = None
            if indexes and not self.options.skip_overlaps:
                clash = self.first_overlap(vhd, indexes, offsets, span)
            if self.options.check_bitmaps:
                limit = clash[0] if clash else (
                    misplaced[0] if misplaced else None)
                for index, offset in zip(indexes, offsets):
                    if limit is not None and index >= limit:
                        break
                    self.check_bitmap(vhd, index, offset)
            if clash:
                i, offset, j, other = clash
                raise Invalid(f'block {i} (offset 0x{offset:x}) clobbers '
                              f'block {j} (offset 0x{other:x})')
            if misplaced:
                raise Invalid(misplaced[1])
            if resume is None:
                return
            start = resume

    def first_overlap(self, vhd: libvhd.Vhd, indexes: array.array,
                      offsets: array.array, span: int
                      ) -> Optional[Tuple[int, int, int, int]]:
        """The first (i, offset, j, offset) pair vhd-util's loops would hit.

        Two blocks clash when their offsets are less than ``span`` apart.
        """
        order = sorted(range(len(offsets)), key=offsets.__getitem__)
        by_offset = array.array('I', (offsets[p] for p in order))
        cover = array.array('i', bytes(4 * (len(order) + 1)))
        for _first, entries in libvhd.iter_bat(vhd):
            for other in entries:
                if other == c.UNALLOCATED:
                    continue
                lo = bisect.bisect_right(by_offset, other - span)
                hi = bisect.bisect_left(by_offset, other + span)
                if lo < hi:
                    cover[lo] += 1
                    cover[hi] -= 1
        clashing = bytearray(len(order))
        running = 0
        for position, candidate in enumerate(order):
            running += cover[position]
            if running > 1:  # every block covers itself once
                clashing[candidate] = 1
        first = clashing.find(1)
        if first < 0:
            return None
        i, offset = indexes[first], offsets[first]
        for start, entries in libvhd.iter_bat(vhd):
            for k, other in enumerate(entries):
                if (other != c.UNALLOCATED and start + k != i
                        and abs(other - offset) < span):
                    return i, offset, start + k, other
        return None  # pragma: no cover - the cover count says there is one

    def check_bitmap(self, vhd: libvhd.Vhd, index: int, offset: int) -> None:
        """``-b``: no sector may hold data while its bitmap bit is clear."""
        spb = vhd.spb
        bitmap = libvhd.pread_full(self.fd, libvhd.padded(spb >> 3),
                                   offset * c.SECTOR_SIZE)
        if len(bitmap) != libvhd.padded(spb >> 3):
            raise Invalid(f'error reading bitmap 0x{index:x}', errno.EIO)
        little = (libvhd.is_tapdisk(vhd.footer)
                  and vhd.footer.creator_version == libvhd.TAP_0_1)
        data_start = (offset + vhd.bm_secs) * c.SECTOR_SIZE
        data_end = self.size - c.FOOTER_SIZE
        clear = [sector for sector in self._clear_sectors(bitmap, spb, little)]
        for run_start, run_length in _runs(clear):
            for part in range(run_start, run_start + run_length,
                              DATA_CHUNK_SECTORS):
                count = min(DATA_CHUNK_SECTORS, run_start + run_length - part)
                where = data_start + part * c.SECTOR_SIZE
                length = max(0, min(count * c.SECTOR_SIZE, data_end - where))
                data = libvhd.pread_full(self.fd, length, where)
                for k in range(-(-len(data) // c.SECTOR_SIZE)):
                    if any(data[k * c.SECTOR_SIZE:(k + 1) * c.SECTOR_SIZE]):
                        raise Invalid(
                            f'sector 0x{part + k:x} of block 0x{index:x} has '
                            'data where bitmap is clear')

    @staticmethod
    def _clear_sectors(bitmap: bytes, spb: int, little: bool):
        used = bitmap[:-(-spb // 8)]
        for match in re.finditer(b'[^\xff]', used):
            base = match.start() * 8
            if little:  # bytes are whole in both orders; bits differ
                word, within = divmod(match.start(), 4)
                base = word * 32 + within * 8
            for bit in range(8):
                sector = base + bit
                if sector < spb and not bitmap_test(bitmap, sector, little):
                    yield sector

    # -- batmap -------------------------------------------------------------

    def check_batmap(self, vhd: libvhd.Vhd, batmap: libvhd.Batmap) -> None:
        """``vhd_util_check_batmap``: its header, then no bit for a hole."""
        header = batmap.header
        assert vhd.header is not None
        problem = None
        if header.cookie != c.BATMAP_COOKIE:
            problem = 'invalid cookie'
        elif header.batmap_version > c.BATMAP_VERSION_1_2:
            problem = 'unsupported batmap version'
        elif libvhd.batmap_checksum(header, batmap.map) != header.checksum:
            problem = 'invalid checksum'
        elif not header.batmap_size:
            problem = 'invalid size zero'
        elif (header.batmap_size << 12) & MASK32 < vhd.header.max_table_entries:
            problem = 'batmap-BAT size mismatch'
        elif not header.batmap_offset or header.batmap_offset % c.SECTOR_SIZE:
            problem = 'invalid batmap offset'
        elif (header.batmap_offset + header.batmap_size * c.SECTOR_SIZE
              > self.size - c.FOOTER_SIZE):
            problem = 'invalid batmap size'
        if problem:
            raise Invalid(f'batmap is invalid: {problem}')
        blocks = vhd.current_blocks
        marked = [i for i in _set_bits(batmap.map) if i < blocks
                  and batmap.test(i)]
        if not marked:
            return
        wanted = iter(marked)
        block = next(wanted)
        for first, entries in libvhd.iter_bat(vhd, marked[0]):
            while block is not None and block < first + len(entries):
                if entries[block - first] == c.UNALLOCATED:
                    raise Invalid(f'batmap shows unallocated block {block} '
                                  'full')
                block = next(wanted, None)
            if block is None:
                return


def _set_bits(bits: bytes):
    """Indexes of the set bits of an MSB-first map, in order."""
    for match in re.finditer(b'[^\x00]', bits):
        byte = bits[match.start()]
        for bit in range(8):
            if byte & (0x80 >> bit):
                yield match.start() * 8 + bit


def _runs(sectors: List[int]):
    """Group sorted sector numbers into (start, length) runs."""
    start = previous = None
    for sector in sectors:
        if start is not None and sector == previous + 1:
            previous = sector
            continue
        if start is not None:
            yield start, previous - start + 1
        start = previous = sector
    if start is not None:
        yield start, previous - start + 1
