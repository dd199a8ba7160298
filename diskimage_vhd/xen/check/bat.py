"""BAT rules: ``vhd_util_check_bat``: each block inside the file, after
the metadata, clear of every other block, and (``-b``) no data where its
sector bitmap is clear.

Memory and time are bounded by the file, not by what its header claims:
the BAT is streamed in chunks, and overlapping blocks are found by sorting
and bisection rather than vhd-util's all-pairs loop.
"""

from __future__ import annotations

import array
import bisect
from collections.abc import Iterator
import errno
import re

from diskimage_vhd.format.bitmap import bit_is_set
from diskimage_vhd.format.bitmap import bit_is_set_tap_0_1
from diskimage_vhd.format import constants as c
from diskimage_vhd.format import creators
from diskimage_vhd.format.units import ceil_div
from diskimage_vhd.posix.extents import data_extents
from diskimage_vhd.posix.io import pread_full
from diskimage_vhd.xen.check.context import CheckRun
from diskimage_vhd.xen.check.problems import Problem
from diskimage_vhd.xen.check.problems import ProblemFound
from diskimage_vhd.xen.check.problems import stop
from diskimage_vhd.xen import libvhd

# Blocks checked for overlaps in one pass: bounds memory whatever the BAT.
OVERLAP_BATCH = 1 << 20
DATA_CHUNK_SECTORS = 2048


def check_bat(run: CheckRun, vhd: libvhd.Vhd) -> libvhd.Batmap | None:
    """``vhd_util_check_bat``; returns the batmap it had to read."""
    eof = run.size
    if eof % c.SECTOR_SIZE:
        if eof % c.SECTOR_SIZE != c.SECTOR_SIZE - 1:
            raise stop('file-size', f'invalid file size: 0x{eof:x}')
        eof += 1
    try:
        libvhd.check_bat_readable(vhd)
    except libvhd.LibvhdError as error:
        if error.kind == 'bat-smaller-than-disk':
            raise stop('bat-smaller-than-disk', error.reason) from None
        raise stop('bat-unreadable', f'error reading bat: {-error.errno}',
                   errno_code=error.errno, detail=error.reason) from None
    batmap = None
    try:
        run.batmap_present = libvhd.has_batmap(vhd)
        if run.batmap_present:
            batmap = libvhd.read_batmap(vhd)
        end_of_headers = libvhd.end_of_headers(vhd, batmap)
    except libvhd.LibvhdError as error:
        raise stop('metadata-end',
                   f'error calculating end of metadata: {-error.errno}',
                   errno_code=error.errno, detail=error.reason) from None
    _check_blocks(run, vhd, end_of_headers >> 9, (eof - c.FOOTER_SIZE) >> 9,
                  vhd.spb + vhd.bm_secs)
    return batmap


def _placement(run: CheckRun, index: int, offset: int, eoh: int, eof: int,
               span: int) -> Problem | None:
    if offset < eoh:
        return Problem('block-in-metadata', f'block {index} (offset '
                       f'0x{offset:x}) clobbers headers',
                       facts={'block': index, 'sector': offset})
    if offset + span > eof and not (
            run.primary_missing and run.options.ignore_footer
            and offset + span == eof + 1):
        return Problem('block-past-end', f'block {index} (offset '
                       f'0x{offset:x}) clobbers footer',
                       facts={'block': index, 'sector': offset})
    return None


def _check_blocks(run: CheckRun, vhd: libvhd.Vhd, eoh: int, eof: int,
                  span: int) -> None:
    """Per block, in index order: headers, footer, overlaps, bitmap.

    vhd-util compares every pair; here a batch of blocks that sit inside
    the file is sorted by offset and each allocated block of the whole BAT
    is matched against it by bisection, giving the same first problem in
    O(n log n) time and bounded memory.
    """
    start = 0
    while True:
        indexes, offsets = array.array('I'), array.array('I')
        misplaced: Problem | None = None
        resume: int | None = None
        for first, entries in libvhd.iter_bat(vhd, start):
            for k, offset in enumerate(entries):
                if offset == c.UNALLOCATED:
                    continue
                misplaced = _placement(run, first + k, offset, eoh, eof, span)
                if misplaced:
                    break
                indexes.append(first + k)
                offsets.append(offset)
                if len(indexes) >= OVERLAP_BATCH:
                    resume = first + k + 1
                    break
            if misplaced or resume is not None:
                break
        clash = None
        if indexes and not run.options.skip_overlaps:
            clash = _first_overlap(vhd, indexes, offsets, span)
        if run.options.check_bitmaps:
            limit = clash[0] if clash else (
                misplaced.facts['block'] if misplaced else None)
            for index, offset in zip(indexes, offsets):
                if limit is not None and index >= limit:
                    break
                _check_bitmap(run, vhd, index, offset)
        if clash:
            i, offset, j, other = clash
            raise stop('block-overlap', f'block {i} (offset 0x{offset:x}) '
                       f'clobbers block {j} (offset 0x{other:x})',
                       block=i, other=j)
        if misplaced:
            raise ProblemFound(misplaced)
        if resume is None:
            return
        start = resume


def _first_overlap(vhd: libvhd.Vhd, indexes: array.array,
                   offsets: array.array, span: int
                   ) -> tuple[int, int, int, int] | None:
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


def _check_bitmap(run: CheckRun, vhd: libvhd.Vhd, index: int,
                  offset: int) -> None:
    """``-b``: no sector may hold data while its bitmap bit is clear."""
    spb = vhd.spb
    length = vhd.layout.bitmap_bytes
    bitmap = pread_full(run.fd, length, offset * c.SECTOR_SIZE)
    if len(bitmap) != length:
        raise stop('bitmap-unreadable', f'error reading bitmap 0x{index:x}',
                   errno_code=errno.EIO, block=index)
    tap_0_1 = (vhd.footer.is_tapdisk
               and vhd.footer.creator_version == creators.TAP_0_1)
    data_start = vhd.layout.data_offset(offset)
    data_end = run.size - c.FOOTER_SIZE
    for run_start, run_length in _clear_runs(bitmap, spb, tap_0_1):
        start = data_start + run_start * c.SECTOR_SIZE
        end = min(start + run_length * c.SECTOR_SIZE, data_end)
        # Holes in the file are zeros: only what it holds is read.
        for lo, hi in data_extents(run.fd, start, end):
            for where in range(lo, hi, DATA_CHUNK_SECTORS * c.SECTOR_SIZE):
                data = pread_full(run.fd, min(DATA_CHUNK_SECTORS
                                              * c.SECTOR_SIZE, hi - where),
                                  where)
                nonzero = len(data) - len(data.lstrip(b'\0'))
                if nonzero < len(data):
                    sector = (where + nonzero - data_start) // c.SECTOR_SIZE
                    raise stop('bitmap-clear-data', f'sector 0x{sector:x} of '
                               f'block 0x{index:x} has data where bitmap is '
                               'clear', block=index, sector=sector)


def _clear_runs(bitmap: bytes, spb: int,
                tap_0_1: bool) -> Iterator[tuple[int, int]]:
    """``(first sector, count)`` of each run of clear bits, in order.

    Byte ``k`` holds sectors ``8k`` to ``8k + 7`` in both bit orders (only
    the order within the byte differs), so a zero byte is eight clear
    sectors at once: a bitmap of zeros is one run, not 4096 bit tests.
    """
    used = bitmap[:ceil_div(spb, 8)]
    test = bit_is_set_tap_0_1 if tap_0_1 else bit_is_set
    start = length = 0
    for match in re.finditer(b'\x00+|[^\x00\xff]', used):
        if match.group()[0] == 0:
            pieces = [(match.start() * 8, (match.end() - match.start()) * 8)]
        else:
            base = match.start() * 8
            pieces = [(base + bit, 1) for bit in range(8)
                      if not test(bitmap, base + bit)]
        for first, count in pieces:
            count = min(count, spb - first)
            if count <= 0:
                continue
            if length and first == start + length:
                length += count
                continue
            if length:
                yield start, length
            start, length = first, count
    if length:
        yield start, length
