"""The drop-in's switches: boolean ``DIB_VHD_*`` variables, read one way.

diskimage-builder passes its settings to ``vhd-util`` only through the
environment; a typo there must stop the build, not quietly mean "off".
"""

from __future__ import annotations

from collections.abc import Mapping

from diskimage_vhd.errors import UsageError

# Flush each output to the disk before it takes its name (guarantees.rst).
SYNC = 'DIB_VHD_SYNC'
TRUE = ('1', 'true', 'yes', 'on')
FALSE = ('', '0', 'false', 'no', 'off')


def environment_flag(environ: Mapping[str, str], name: str) -> bool:
    """``name`` as on or off (unset is off); anything else is refused."""
    given = environ.get(name, '')
    flag = given.strip().lower()
    if flag not in TRUE + FALSE:
        raise UsageError(None, f'{name}: {given!r} is neither on '
                               f'({", ".join(TRUE)}) nor off (unset, '
                               f'{", ".join(FALSE[1:])})')
    return flag in TRUE
