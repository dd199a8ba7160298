"""``vhd-util read``: print a disk's headers (-p), BAT entries and sector map."""

from __future__ import annotations

import errno
from typing import Callable

from diskimage_vhd.format import bat as batlib
from diskimage_vhd.format import constants as c
from diskimage_vhd.posix.io import pread_full
from diskimage_vhd.vhdutil.options import number
from diskimage_vhd.vhdutil.options import parse
from diskimage_vhd.vhdutil.options import usage
from diskimage_vhd.vhdutil import readout
from diskimage_vhd.xen import libvhd

SPEC = 'n:pt:b:Bm:i:e:aj:d:c:r:R:xCh'
SUPPORTED = 'npbtcxC'
USAGE = '\n'.join((
    'options:',
    '-h          help',
    '-n          name',
    '-p          print VHD headers',
    '-t sec      translate logical sector to VHD location',
    '-b blk      print bat entry',
    '-c num      num units',
    '-x          print in hex',
))


def bat_entry(vhd: libvhd.Vhd, block: int) -> int:
    """One BAT entry, read from the table (never the whole table)."""
    assert vhd.header is not None
    data = pread_full(vhd.fd, batlib.ENTRY_SIZE,
                      vhd.header.table_offset + block * batlib.ENTRY_SIZE)
    return batlib.decode(data)[0] if len(data) == 4 else c.UNALLOCATED


def run(args: list[str], out: Callable[[str], None],
        err_out: Callable[[str], None]) -> int:
    found: dict[str, str] = parse(args, SPEC, SUPPORTED)
    name = found.get('n')
    if name is None:
        raise usage()
    hexadecimal = 'x' in found
    count = number(found.get('c', '1'))
    try:
        vhd = libvhd.open_vhd(name)
    except libvhd.LibvhdError as error:
        out(f'Failed to open {name}: {-error.errno}')
        for line in readout.dump_lines(name, hexadecimal):
            out(line)
        return error.errno
    with vhd:
        try:
            libvhd.check_bat_readable(vhd)  # refuses a fixed disk, as libvhd
        except libvhd.LibvhdError as error:
            out(f'Failed to get bat for {name}: {-error.errno}')
            return error.errno
        if 'p' in found:
            for line in readout.headers_lines(vhd, hexadecimal):
                out(line)
        if 't' in found:
            code = _logical(vhd, number(found['t']), count, hexadecimal,
                            out, err_out)
            if code:
                return code
        if 'b' in found:
            code = _bat(vhd, number(found['b']), count, hexadecimal, out,
                        err_out)
            if code:
                return code
    return 0


def _logical(vhd: libvhd.Vhd, sector: int, count: int, hexadecimal: bool,
             out: Callable[[str], None], err_out: Callable[[str], None]) -> int:
    """``-t``: where each logical sector lives in the file."""
    conv = readout.conv
    if vhd.spb == 0:  # libvhd would divide by it (SIGFPE); say why instead
        assert vhd.header is not None
        err_out(f'{vhd.path}: block size {vhd.header.block_size} holds no '
                'sectors; cannot translate sectors')
        return errno.EINVAL
    if (sector + count) * c.SECTOR_SIZE > vhd.footer.current_size:
        err_out(f'sector {conv(sector + count, hexadecimal)} past end of file')
        return errno.ERANGE
    for current in range(sector, sector + count):
        block, within = divmod(current, vhd.spb)
        entry = bat_entry(vhd, block)
        where = ('not allocated' if entry == c.UNALLOCATED else
                 conv((entry + within + 1) * c.SECTOR_SIZE, hexadecimal))
        out(f'logical sector {conv(current, hexadecimal)}: block number: '
            f'{conv(block, hexadecimal)}, sector offset: '
            f'{conv(within, hexadecimal)}, file offset: {where}')
    return 0


def _bat(vhd: libvhd.Vhd, block: int, count: int, hexadecimal: bool,
         out: Callable[[str], None], err_out: Callable[[str], None]) -> int:
    """``-b``: BAT entries as byte offsets."""
    conv = readout.conv
    assert vhd.header is not None
    if block + count > vhd.header.max_table_entries:
        err_out(f'block {conv(block + count, hexadecimal)} past end of file')
        return errno.ERANGE
    # vhd-util stops at as many entries as vhd_read_bat read, from any start.
    for current in range(block, block + min(count, vhd.bat_entries)):
        entry = bat_entry(vhd, current)
        where = ('not allocated' if entry == c.UNALLOCATED else
                 conv(entry * c.SECTOR_SIZE, hexadecimal))
        out(f'block: {conv(current, hexadecimal)}: offset: {where}')
    return 0
