"""``DIB_VHD_TARGET``: check what ``vhd-util convert`` wrote for its importer.

disk-image-create's last step is ``vhd-util convert -s 1 -t 2``; checking
its output there puts the importer's verdict in the build log, and a
problem fails the build, instead of the import failing hours later far
from the cause.  ``none`` turns the check off.  An importer that takes
another shape of disk (azure: fixed, whole MiB) gets it from that step.

``vhd-util target`` prints the target, or fails naming the known ones:
the element's preflight asks it, so a typo stops the build at its start.
"""

from __future__ import annotations

from collections.abc import Mapping
import os
from typing import Callable

from diskimage_vhd.errors import EXIT_OK
from diskimage_vhd.errors import InvalidVhdError
from diskimage_vhd.errors import UsageError
from diskimage_vhd.vhdutil.options import HELP
from diskimage_vhd.vhdutil.options import usage
from diskimage_vhd.xen import TARGETS

VARIABLE = 'DIB_VHD_TARGET'
DEFAULT = 'xenserver'
OFF = 'none'
USAGE = ('options: none. Prints the importer DIB_VHD_TARGET names '
         f'({DEFAULT} when unset), or fails naming the known ones')


def dib_target(environ: Mapping[str, str]) -> str | None:
    """The target named by ``DIB_VHD_TARGET``, or None for ``none``."""
    value = environ.get(VARIABLE, '').strip().lower() or DEFAULT
    if value == OFF:
        return None
    if value not in TARGETS:
        raise UsageError(None, f'{VARIABLE}: {value!r} is not one of '
                               f'{", ".join(TARGETS + (OFF,))}')
    return value


def check_output(path: str, target: str,
                 err_out: Callable[[str], None]) -> None:
    """Print the findings for ``path``; raise if it is not ready."""
    # XenServer's rules, imported only when applied (as by diskimage-vhd).
    from diskimage_vhd.xen.targets import assess
    from diskimage_vhd.xen.targets import report_lines
    readiness = assess(path, target)
    err_out(f'vhd-util: checking {path} for import into {target} '
            f'({VARIABLE}={target}; {OFF} skips this)')
    for line in report_lines(readiness, path):
        err_out(f'vhd-util: {line}')
    if not readiness.ready:
        codes = ', '.join(dict.fromkeys(f.code for f in readiness.problems))
        raise InvalidVhdError(path, f'not ready for import into {target} '
                                    f'({codes}): each problem above names '
                                    f'its fix; {VARIABLE}={OFF} skips this '
                                    'check')


def run(args: list[str], out: Callable[[str], None],
        environ: Mapping[str, str] | None = None) -> int:
    """``vhd-util target``: the element's preflight check."""
    if args == ['-h']:
        raise UsageError(None, '', kind=HELP)
    if args:
        raise usage(f'unexpected argument {args[0]!r}')
    out(dib_target(os.environ if environ is None else environ) or OFF)
    return EXIT_OK
