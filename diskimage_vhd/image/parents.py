"""Where a differencing disk's parent is: libvhd's search, made safe.

libvhd (``vhd_parent_locator_get``) tries the header's parent locators in
order; each MACX, W2KU or W2RU locator holds a path, absolute or relative
to the child's folder (``vhd_find_parent``), and the first that names a
readable file wins.  A chain copied out of a storage repository keeps its
relative locators (``./PARENT.vhd``), so it reads where it lands.  Beyond
libvhd, one more place is tried last: the header's parent name beside the
child, for a chain whose locators are absolute paths of another machine.

Only a regular file or a block device is ever taken as a parent, and a
path is never opened here: the one opener (``posix.io.open_input``)
checks it again.
"""

from __future__ import annotations

from collections.abc import Iterator
import os
import stat

from diskimage_vhd.format import creators
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.format.locator import ParentLocator
from diskimage_vhd.format.locator import PATH_CODES
from diskimage_vhd.format.locator import PlatformCode
from diskimage_vhd.posix.io import pread_full

# A locator holds one path: no more than PATH_MAX (4096) UTF-16 characters
# and a sector of slack are read, whatever its data space claims.
MAX_LOCATOR_BYTES = 2 * 4096 + 512


def w2u_decode(raw: bytes, encoding: str) -> str | None:
    """``vhd_w2u_decode_location``: UTF-16 to ASCII (None if it is not),
    Windows' ``\\`` as ``/`` and a leading drive ``C:`` dropped, so that
    ``C:\\images\\parent.vhd`` reads as ``/images/parent.vhd``.
    """
    try:
        name = raw.decode(encoding)
        name.encode('ascii')
    except (UnicodeDecodeError, UnicodeEncodeError):
        return None
    name = name.split('\0', 1)[0].replace('\\', '/')
    return name[2:] if name[:2] in ('C:', 'c:') else name


def decode_locator(code: int, raw: bytes) -> str | None:
    """``vhd_parent_locator_read``'s decoding: the path a locator's data
    holds (``file://`` URL for MACX, UTF-16-LE Windows path for W2KU and
    W2RU), or None if it holds none.
    """
    if code in (PlatformCode.W2KU, PlatformCode.W2RU):
        return w2u_decode(raw, 'utf-16-le')
    if code != PlatformCode.MACX:
        return None
    try:
        text = raw.decode('ascii')
    except UnicodeDecodeError:
        return None
    if not text.startswith('file://'):
        return None
    return text[len('file://'):].split('\0', 1)[0]


def decode_parent_name(footer: Footer, header: DynamicHeader) -> str | None:
    """``vhd_header_decode_parent``: UTF-16 (BE, or either with a byte order
    mark for tap 0.1) decoded as a Windows location is.
    """
    raw = header.parent_unicode_name
    encoding = 'utf-16-be'
    if footer.is_tapdisk and footer.creator_version == creators.TAP_0_1:
        encoding = 'utf-16-le' if raw[:2] == b'\xff\xfe' else 'utf-16-be'
        if raw[:2] in (b'\xff\xfe', b'\xfe\xff'):
            raw = raw[2:]
    return w2u_decode(raw, encoding)


def locator_paths(fd: int, file_size: int,
                  locators: list[ParentLocator]) -> Iterator[str]:
    """The parent paths the locators hold, in the header's order."""
    for locator in locators:
        size = locator.data_bytes
        if size <= 0 or locator.code not in PATH_CODES:
            continue
        if locator.data_offset + size > file_size:
            continue
        size = min(size, MAX_LOCATOR_BYTES)
        raw = pread_full(fd, size, locator.data_offset)
        path = decode_locator(locator.code,
                              raw[:min(locator.data_length, size)])
        if path:
            yield path


def candidates(child: str, parent: str) -> list[str]:
    """``vhd_find_parent``'s places: an absolute path as it is, then the
    path taken relative to the child's real folder.
    """
    found = [parent] if parent.startswith('/') else []
    folder = os.path.dirname(os.path.realpath(child))
    found.append(os.path.normpath(f'{folder}/{parent}'))  # even if absolute
    return found


def unusable(path: str) -> str | None:
    """Why ``path`` cannot be a parent, or None if it can."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        return (error.strerror or 'cannot be read').lower()
    if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):
        return 'not a regular file or block device'
    if not os.access(path, os.R_OK):
        return 'not readable'
    return None
