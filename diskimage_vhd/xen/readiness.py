"""What XenServer (and Rackspace) mind in a disk: the footer's rules.

Each rule gives a ``Finding`` with a stable ``code`` (documented in
doc/source/readiness.rst) and a level: a *problem* makes the importer refuse or
break the disk, a *warning* lets it import but something degrades, a
*note* says what to do at upload.  Callers decide on the typed level and
code, never on the message, which is for people and names the fix.

``readiness_warnings`` is the older view ``check`` prints without
``--for``: the same rules' messages, for the codes it always showed.
"""

from __future__ import annotations

import dataclasses
import enum

from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format import timestamps
from diskimage_vhd.xen.tolerances import TIMESTAMP_MAX_SLACK

# Above 1 TiB, imports fail on XenServer before 7.6.
LARGE_VIRTUAL_SIZE = 1024 ** 4
RECONVERT = 'convert it again with "diskimage-vhd convert"'


class Level(str, enum.Enum):
    """How much a finding matters to the import; ordered worst first."""

    PROBLEM = 'problem'
    WARNING = 'warning'
    NOTE = 'note'


@dataclasses.dataclass(frozen=True)
class Finding:
    """One rule's verdict: ``code`` is stable, ``message`` is for people."""

    level: Level
    code: str
    message: str
    fix: str = ''

    @property
    def text(self) -> str:
        """The message with its fix, as ``--for`` prints it."""
        return f'{self.message}; {self.fix}' if self.fix else self.message

    def to_dict(self) -> dict:
        return {'code': self.code, 'message': self.text}


# The codes ``check`` without ``--for`` has always listed as warnings.
PLAIN_CHECK_CODES = ('creator-not-tap', 'fixed-disk', 'no-batmap',
                     'has-parent', 'partial-block', 'future-timestamp',
                     'too-large')


def footer_findings(footer: Footer, batmap_present: bool | None,
                    now: float) -> list[Finding]:
    """The rules read from the footer (and whether a batmap was found).

    ``batmap_present`` is None when nobody looked (the file was unreadable
    before the batmap): no finding is made about it then.
    """
    if footer.cookie != c.FOOTER_COOKIE:
        return []
    found = []

    def add(level: Level, code: str, message: str, fix: str = '') -> None:
        found.append(Finding(level, code, message, fix))

    creator = footer.creator_application.decode('latin-1')
    if footer.creator_application != c.CREATOR_TAP:
        add(Level.PROBLEM, 'creator-not-tap',
            f"creator is {creator!r}, not 'tap': XenServer's vhd-util resize "
            'refuses it ("not created by xen; resize not supported")',
            'so the root disk cannot grow to the flavour: ' + RECONVERT)
    if footer.disk_type == c.DISK_TYPE_FIXED:
        add(Level.PROBLEM, 'fixed-disk',
            'fixed disk: Rackspace imports only dynamic disks; convert it '
            'with "diskimage-vhd convert"')
    elif footer.is_dynamic and batmap_present is False:
        add(Level.WARNING, 'no-batmap',
            'no batmap: disks XenServer makes (creator tap 1.2 and later) '
            'carry one, and snapshots of a template without it misbehave',
            RECONVERT)
    if footer.is_differencing:
        add(Level.PROBLEM, 'has-parent',
            'differencing disk: it needs its parent; XenServer imports '
            'standalone disks', 'flatten the chain into one disk with '
            '"diskimage-vhd convert CHILD OUT", its parents beside it')
    if footer.hidden:
        add(Level.PROBLEM, 'hidden',
            'hidden flag set: the os-xenapi import plugin refuses a hidden '
            'leaf (_assert_vhd_not_hidden)',
            'clear it ("vhd-util set -n FILE -f hidden -v 0" on XenServer) '
            'or ' + RECONVERT)
    if footer.current_size % c.BLOCK_SIZE:
        add(Level.WARNING, 'partial-block',
            f'virtual size {footer.current_size} bytes is not a whole number '
            'of 2 MiB blocks; libvhd ignores the partial last block')
    ahead = timestamps.to_unix(footer.timestamp) - int(now)
    if ahead > 0:
        add(Level.PROBLEM if ahead > TIMESTAMP_MAX_SLACK else Level.WARNING,
            'future-timestamp',
            f'timestamp is {ahead} seconds in the future; XenServer refuses '
            f'disks more than {TIMESTAMP_MAX_SLACK} seconds ahead',
            'set the clock right and convert again (or pass --timestamp, or '
            'set SOURCE_DATE_EPOCH to a past time)')
    if footer.current_size > c.MAX_VIRTUAL_SIZE:
        add(Level.PROBLEM, 'too-large',
            f'virtual size {footer.current_size} bytes is beyond '
            'the 2040 GiB a VHD may hold', 'XenServer (sm MAX_VHD_SIZE) '
            'refuses it: make the image smaller, or import it into XCP-ng '
            '8.3 as a QCOW2 VDI, which holds larger disks (qemu-img convert '
            '-O qcow2)')
    elif footer.current_size > LARGE_VIRTUAL_SIZE:
        add(Level.WARNING, 'over-1tib',
            f'virtual size {footer.current_size} bytes is over 1 TiB: '
            'imports fail on XenServer before 7.6',
            'make the image smaller if older hosts must take it')
    return found


def readiness_warnings(footer: Footer, batmap_present: bool | None,
                       now: float) -> list[str]:
    """What XenServer (or Rackspace) will mind though vhd-util check passes:
    the messages ``check`` without ``--for`` prints as warnings.
    """
    return [finding.message for finding
            in footer_findings(footer, batmap_present, now)
            if finding.code in PLAIN_CHECK_CODES]
