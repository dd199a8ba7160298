"""``vhd-util check``: the checker's verdict, printed as vhd-util prints it."""

from __future__ import annotations

import errno
import os
from typing import Callable

from diskimage_vhd.errors import VhdError
from diskimage_vhd.vhdutil.options import parse
from diskimage_vhd.vhdutil.options import usage
from diskimage_vhd.vhdutil import read
from diskimage_vhd.xen.check import check

SPEC = 'n:iItpbBsh'
SUPPORTED = 'niItpbB'
USAGE = ('options: -n <file> [-i ignore missing primary footers] '
         '[-I ignore parent uuids] [-t ignore timestamps] '
         '[-B do not check BAT for overlapping (precludes -b)] '
         '[-p check parents] [-b check bitmaps] [-h help]')


def run(args: list[str], out: Callable[[str], None],
        err_out: Callable[[str], None]) -> int:
    found: dict[str, str] = parse(args, SPEC, SUPPORTED)
    name = found.get('n')
    if name is None or ('b' in found and 'B' in found):
        raise usage()
    try:
        os.stat(name)
    except OSError as error:
        out(f'cannot stat {name}: {error.errno}')
        return error.errno or errno.EIO
    try:
        report = check(
            name, check_bitmaps='b' in found, ignore_footer='i' in found,
            ignore_timestamps='t' in found, skip_overlaps='B' in found,
            ignore_parent_uuid='I' in found)
    except VhdError as error:
        out(f'error opening {name}')
        return error.errno or errno.EIO
    if report.valid:
        # vhd-util says nothing about a valid fixed disk.
        if report.disk_type != 'fixed':
            out(f'{name} is valid')
        return 0
    assert report.problem is not None
    out(report.problem.message)
    if report.problem.code == 'not-regular-file':
        return report.exit_code
    out(f'{name} appears invalid; dumping metadata')
    read.run(['-p', '-n', name], out, err_out)
    return report.exit_code
