"""Finding a differencing disk's parent, as libvhd does, but safely.

libvhd follows whatever path a locator names; as root, on a file anyone
may have made, that could be a device or a FIFO.  Here a parent is only
ever a regular file or a block device, checked before it is opened (and
again after, by the one opener), and a disk is never its own parent.
"""

from __future__ import annotations

import errno
import os

from diskimage_vhd.format.locator import ParentLocator
from diskimage_vhd.format.locator import PATH_CODES
from diskimage_vhd.image.parents import candidates
from diskimage_vhd.image.parents import decode_locator
from diskimage_vhd.image.parents import unusable
from diskimage_vhd.xen import libvhd


class ParentNotFound(Exception):
    """No usable parent at a locator's path; ``errno`` says why."""

    def __init__(self, code: int):
        super().__init__(os.strerror(code))
        self.errno = code


def read_locator(vhd: libvhd.Vhd, locator: ParentLocator) -> str | None:
    """``vhd_parent_locator_read``: the parent path a locator holds."""
    size = locator.data_bytes
    if size <= 0 or locator.code not in PATH_CODES:
        return None
    try:
        raw = libvhd.vhd_read(vhd.fd, size, locator.data_offset)
    except libvhd.LibvhdError:
        return None
    return decode_locator(locator.code, raw[:locator.data_length])


def find_parent(child: str, parent: str) -> str:
    """``vhd_find_parent``: absolute if usable, else beside the child.

    A path that is the child itself is refused (ELOOP), as is anything but
    a regular file or a block device (ENOENT, as libvhd says of a path it
    cannot use).
    """
    for location in candidates(child, parent):
        if unusable(location) is not None:
            continue
        if os.path.samefile(location, child):
            raise ParentNotFound(errno.ELOOP)
        return os.path.realpath(location) if location != parent else parent
    raise ParentNotFound(errno.ENOENT)


def parent_is_raw(vhd: libvhd.Vhd) -> bool:
    """``vhd_parent_raw``: a null parent UUID means the parent is a raw file."""
    return vhd.header is not None and not any(vhd.header.parent_unique_id)


def parent_locator_get(vhd: libvhd.Vhd) -> str:
    """``vhd_parent_locator_get``: the first locator that resolves."""
    if not vhd.is_differencing or vhd.header is None:
        raise libvhd.LibvhdError(errno.EINVAL, 'not a differencing disk')
    code = errno.EINVAL
    for locator in vhd.header.locators:
        path = read_locator(vhd, locator)
        if path is None:
            continue
        try:
            return find_parent(vhd.path, path)
        except ParentNotFound as problem:
            code = problem.errno
    raise libvhd.LibvhdError(code, 'no parent locator resolves')
