"""What XenServer (and Rackspace) mind in a disk that vhd-util check passes."""

from __future__ import annotations

from typing import List, Optional

from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.xen.check.footers import TIMESTAMP_MAX_SLACK


def readiness_warnings(footer: Footer, batmap_present: Optional[bool],
                       now: float) -> List[str]:
    """What XenServer (or Rackspace) will mind though vhd-util check passes.

    ``batmap_present`` is None when the check stopped before looking.
    """
    if footer.cookie != c.FOOTER_COOKIE:
        return []
    warnings = []
    creator = footer.creator_application.decode('latin-1')
    if footer.creator_application != c.CREATOR_TAP:
        warnings.append(f"creator is {creator!r}, not 'tap': XenServer's "
                        'vhd-util resize refuses it ("not created by xen; '
                        'resize not supported")')
    if footer.disk_type == c.DISK_TYPE_FIXED:
        warnings.append('fixed disk: Rackspace imports only dynamic disks; '
                        'convert it with "diskimage-vhd convert"')
    elif footer.disk_type in (c.DISK_TYPE_DYNAMIC, c.DISK_TYPE_DIFFERENCING) \
            and batmap_present is False:
        warnings.append('no batmap: disks XenServer makes (creator tap 1.2 '
                        'and later) carry one, and snapshots of a template '
                        'without it misbehave')
    if footer.disk_type == c.DISK_TYPE_DIFFERENCING:
        warnings.append('differencing disk: it needs its parent; XenServer '
                        'imports standalone disks')
    if footer.current_size % c.BLOCK_SIZE:
        warnings.append(f'virtual size {footer.current_size} bytes is not a '
                        'whole number of 2 MiB blocks; libvhd ignores the '
                        'partial last block')
    ahead = footer.timestamp + c.VHD_EPOCH - int(now)
    if ahead > 0:
        warnings.append(f'timestamp is {ahead} seconds in the future; '
                        'XenServer refuses disks more than '
                        f'{TIMESTAMP_MAX_SLACK} seconds ahead')
    if footer.current_size > c.MAX_VIRTUAL_SIZE:
        warnings.append(f'virtual size {footer.current_size} bytes is beyond '
                        'the 2040 GiB a VHD may hold')
    return warnings
