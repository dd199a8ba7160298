"""Batmap rules: ``vhd_util_check_batmap``: its header, then no bit set
for a block that is not allocated."""

from __future__ import annotations

from collections.abc import Iterator
import re

from diskimage_vhd.format import constants as c
from diskimage_vhd.xen.check.context import CheckRun
from diskimage_vhd.xen.check.footers import MASK32
from diskimage_vhd.xen.check.problems import Fault
from diskimage_vhd.xen.check.problems import stop
from diskimage_vhd.xen import libvhd


def batmap_fault(run: CheckRun, vhd: libvhd.Vhd,
                 batmap: libvhd.Batmap) -> Fault | None:
    header = batmap.header
    assert vhd.header is not None
    if header.cookie != c.BATMAP_COOKIE:
        return Fault('cookie', 'invalid cookie')
    if header.batmap_version > c.BATMAP_VERSION_1_2:
        return Fault('version', 'unsupported batmap version')
    if batmap.computed_checksum != header.checksum:
        return Fault('checksum', 'invalid checksum')
    if not header.batmap_size:
        return Fault('size-zero', 'invalid size zero')
    if (header.batmap_size << 12) & MASK32 < vhd.header.max_table_entries:
        return Fault('size-mismatch', 'batmap-BAT size mismatch')
    if not header.batmap_offset or header.batmap_offset % c.SECTOR_SIZE:
        return Fault('offset', 'invalid batmap offset')
    if (header.batmap_offset + header.batmap_size * c.SECTOR_SIZE
            > run.size - c.FOOTER_SIZE):
        return Fault('size', 'invalid batmap size')
    return None


def check_batmap(run: CheckRun, vhd: libvhd.Vhd,
                 batmap: libvhd.Batmap) -> None:
    """``vhd_util_check_batmap``."""
    fault = batmap_fault(run, vhd, batmap)
    if fault:
        raise stop(f'batmap-{fault.code}', f'batmap is invalid: {fault.text}')
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
                raise stop('batmap-unallocated-full', f'batmap shows '
                           f'unallocated block {block} full', block=block)
            block = next(wanted, None)
        if block is None:
            return


def _set_bits(bits: bytes) -> Iterator[int]:
    """Indexes of the set bits of an MSB-first map, in order."""
    for match in re.finditer(b'[^\x00]', bits):
        byte = bits[match.start()]
        for bit in range(8):
            if byte & (0x80 >> bit):
                yield match.start() * 8 + bit
