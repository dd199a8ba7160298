"""Parent rules: ``vhd_util_check_parent_locators``: each locator's
fields, duplicate platform codes, and whether the parent it names exists
(safely: xen/parents.py) and has the expected UUID."""

from __future__ import annotations

import errno

from diskimage_vhd.format.locator import is_platform_code
from diskimage_vhd.format.locator import ParentLocator
from diskimage_vhd.format.locator import PATH_CODES
from diskimage_vhd.xen.check.problems import Fault
from diskimage_vhd.xen.check.problems import stop
from diskimage_vhd.xen import libvhd
from diskimage_vhd.xen.parents import find_parent
from diskimage_vhd.xen.parents import ParentNotFound
from diskimage_vhd.xen.parents import read_locator


def locator_fault(vhd: libvhd.Vhd, locator: ParentLocator) -> Fault | None:
    """``vhd_util_check_validate_parent_locator``."""
    if not is_platform_code(locator.code):
        return Fault('platform-code', 'invalid platform code')
    if locator.code == 0:
        if any(locator.pack()):
            return Fault('non-zero', 'non-zero locator')
        return None
    if not locator.data_offset:
        return Fault('data-offset', 'invalid data offset')
    if not locator.data_space:
        return Fault('data-space', 'invalid data space')
    if not locator.data_length:
        return Fault('data-length', 'invalid data length')
    if locator.data_offset + locator.data_bytes > vhd.file_size - 512:
        return Fault('size', 'invalid size')
    if locator.reserved:
        return Fault('reserved', 'invalid reserved bits')
    return None


def parent_uuid_fault(vhd: libvhd.Vhd, location: str) -> Fault | None:
    """``vhd_util_check_validate_parent``: the parent's UUID is the one named."""
    assert vhd.header is not None
    if not any(vhd.header.parent_unique_id):
        return None  # a raw parent has no UUID to compare
    try:
        with libvhd.open_vhd(location) as parent:
            if parent.footer.unique_id != vhd.header.parent_unique_id:
                return Fault('uuid', 'invalid parent uuid')
    except libvhd.LibvhdError:
        return Fault('open', 'error opening parent')
    return None


def check_parent_locators(vhd: libvhd.Vhd,
                          ignore_parent_uuid: bool = False) -> None:
    """``vhd_util_check_parent_locators``: stop at the first problem."""
    assert vhd.header is not None
    name = libvhd.decode_parent_name(vhd)
    if name is None:
        raise stop('parent-name', f'error decoding parent name: '
                                  f'{-errno.EINVAL}')
    seen = set()
    found = 0
    for index, locator in enumerate(vhd.header.locators):
        fault = locator_fault(vhd, locator)
        if fault:
            raise stop(f'locator-{fault.code}', f'invalid parent locator '
                       f'{index}: {fault.text}', locator=index)
        if locator.code == 0:
            continue
        if locator.code in seen:
            raise stop('locator-duplicate', 'duplicate platform code in '
                       f'locator {index}: 0x{locator.code:x}', locator=index)
        seen.add(locator.code)
        if locator.code not in PATH_CODES:
            continue
        path = read_locator(vhd, locator)
        if path is None:
            raise stop('locator-unreadable', f'error reading parent locator '
                       f'{index}: {-errno.EINVAL}', locator=index)
        base = path.rsplit('/', 1)[-1]
        if base != name:
            raise stop('locator-name', f'parent locator {index} name ({base}) '
                       f'does not match header name ({name})', locator=index)
        try:
            location = find_parent(vhd.path, path)
        except ParentNotFound as problem:
            raise stop('parent-unresolved', f'error resolving {path}: '
                       f'{-problem.errno}', errno_code=problem.errno,
                       locator=index) from None
        fault = None if ignore_parent_uuid else parent_uuid_fault(vhd, location)
        if fault:
            raise stop(f'parent-{fault.code}',
                       f'invalid parent {location}: {fault.text}',
                       locator=index)
        found += 1
    if not found:
        raise stop('parent-missing', f'could not find parent {name}')
