"""Parent locators of differencing disks, checked as vhd-util check does.

This package never writes differencing disks, but ``check`` must still say
what vhd-util says about one: each locator's fields, duplicate platform
codes, and whether the parent it names exists and has the expected UUID.
"""

from __future__ import annotations

import errno
import os
from typing import Optional

from diskimage_vhd.xen import libvhd

MACX = 0x4D616358
W2KU = 0x57326B75
W2RU = 0x57327275


class ParentProblem(Exception):
    """vhd-util's message about a parent locator, and its errno."""

    def __init__(self, message: str, code: int = errno.EINVAL):
        super().__init__(message)
        self.code = code


def locator_problem(vhd: libvhd.Vhd, entry: tuple, raw: bytes
                    ) -> Optional[str]:
    """``vhd_util_check_validate_parent_locator``."""
    code, space, length, reserved, offset = entry
    if code not in libvhd.PLATFORM_CODES:
        return 'invalid platform code'
    if code == 0:
        return 'non-zero locator' if any(raw) else None
    if not offset:
        return 'invalid data offset'
    if not space:
        return 'invalid data space'
    if not length:
        return 'invalid data length'
    if offset + libvhd.locator_size(space) > vhd.file_size - 512:
        return 'invalid size'
    if reserved:
        return 'invalid reserved bits'
    return None


def read_locator(vhd: libvhd.Vhd, entry: tuple) -> Optional[str]:
    """``vhd_parent_locator_read``: the parent path a locator holds."""
    code, space, length, _reserved, offset = entry
    size = libvhd.locator_size(space)
    if size <= 0 or code not in (MACX, W2KU, W2RU):
        return None
    try:
        raw = libvhd.vhd_read(vhd.fd, size, offset)[:length]
    except libvhd.LibvhdError:
        return None
    try:
        if code == MACX:
            text = raw.decode('ascii')
            if not text.startswith('file://'):
                return None
            name = text[len('file://'):]
        else:
            name = raw.decode('utf-16-le').replace('\\', '/')
            name.encode('ascii')
            if name[:2] in ('C:', 'c:'):
                name = name[2:]
    except (UnicodeDecodeError, UnicodeEncodeError):
        return None
    return name.split('\0', 1)[0]


def find_parent(child: str, parent: str) -> str:
    """``vhd_find_parent``: absolute if readable, else beside the child."""
    if parent.startswith('/') and os.access(parent, os.R_OK):
        return parent
    location = os.path.join(os.path.dirname(os.path.realpath(child)), parent)
    if os.access(location, os.R_OK):
        return os.path.realpath(location)
    raise ParentProblem('', errno.ENOENT)


def parent_uuid_problem(vhd: libvhd.Vhd, location: str) -> Optional[str]:
    """``vhd_util_check_validate_parent``: the parent's UUID is the one named."""
    assert vhd.header is not None
    if not any(vhd.header.parent_unique_id):
        return None  # a raw parent has no UUID to compare
    try:
        with libvhd.open_vhd(location) as parent:
            if parent.footer.unique_id != vhd.header.parent_unique_id:
                return 'invalid parent uuid'
    except libvhd.LibvhdError:
        return 'error opening parent'
    return None


def check_parent_locators(vhd: libvhd.Vhd,
                          ignore_parent_uuid: bool = False) -> None:
    """``vhd_util_check_parent_locators``: raise the first problem."""
    assert vhd.header is not None
    name = libvhd.decode_parent_name(vhd)
    if name is None:
        raise ParentProblem(f'error decoding parent name: {-errno.EINVAL}')
    seen = set()
    found = 0
    raw_locators = vhd.header.parent_locators
    for index, entry in enumerate(libvhd.locators(vhd.header)):
        raw = raw_locators[index * libvhd.LOCATOR:(index + 1) * libvhd.LOCATOR]
        problem = locator_problem(vhd, entry, raw)
        if problem:
            raise ParentProblem(f'invalid parent locator {index}: {problem}')
        code = entry[0]
        if code == 0:
            continue
        if code in seen:
            raise ParentProblem(f'duplicate platform code in locator {index}: '
                                f'0x{code:x}')
        seen.add(code)
        if code not in (MACX, W2KU, W2RU):
            continue
        path = read_locator(vhd, entry)
        if path is None:
            raise ParentProblem(f'error reading parent locator {index}: '
                                f'{-errno.EINVAL}')
        base = os.path.basename(path)
        if base != name:
            raise ParentProblem(f'parent locator {index} name ({base}) does '
                                f'not match header name ({name})')
        try:
            location = find_parent(vhd.path, path)
        except ParentProblem as problem:
            raise ParentProblem(f'error resolving {path}: {-problem.code}',
                                problem.code) from None
        problem = (None if ignore_parent_uuid
                   else parent_uuid_problem(vhd, location))
        if problem:
            raise ParentProblem(f'invalid parent {location}: {problem}')
        found += 1
    if not found:
        raise ParentProblem(f'could not find parent {name}')


def parent_is_raw(vhd: libvhd.Vhd) -> bool:
    """``vhd_parent_raw``: a null parent UUID means the parent is a raw file."""
    return vhd.header is not None and not any(vhd.header.parent_unique_id)


def parent_locator_get(vhd: libvhd.Vhd) -> str:
    """``vhd_parent_locator_get``: the first locator that resolves."""
    if vhd.footer.disk_type != 4 or vhd.header is None:
        raise libvhd.LibvhdError(errno.EINVAL, 'not a differencing disk')
    code = errno.EINVAL
    for entry in libvhd.locators(vhd.header):
        path = read_locator(vhd, entry)
        if path is None:
            continue
        try:
            return find_parent(vhd.path, path)
        except ParentProblem as problem:
            code = problem.code
    raise libvhd.LibvhdError(code, 'no parent locator resolves')
