"""Real differencing disks for the tests and the fuzz campaign.

``vhd-util create`` makes a dynamic disk; turning it into a child with one
MACX locator is what libvhd's own ``vhd-util snapshot`` leaves, minus the
parent's name space, which the readers never need.
"""

from __future__ import annotations

from typing import Optional
import uuid

from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.format.locator import ParentLocator
from diskimage_vhd.format.locator import PlatformCode
from diskimage_vhd.vhdutil.create import create
from tests.base import FIXTURE_UNIX_TIMESTAMP as EPOCH


def make_child(path: str, parent_name: str, locator_path: str,
               parent_uuid: bytes, timestamp: int = EPOCH,
               unique_id: Optional[uuid.UUID] = None) -> str:
    """A differencing disk whose one MACX locator says ``locator_path``
    (any length: the locator takes as many sectors as it needs).
    """
    create(path, 10, 0, False, timestamp=str(timestamp), unique_id=unique_id)
    with open(path, 'rb') as handle:
        data = bytearray(handle.read())
    footer = Footer.parse(bytes(data[-512:]))
    place = len(data) - 512  # the locator's data goes where the footer was
    text = f'file://{locator_path}'.encode('utf-8')
    space = -(-len(text) // 512)
    locator = ParentLocator(code=PlatformCode.MACX, data_space=space,
                            data_length=len(text), reserved=0,
                            data_offset=place)
    header = DynamicHeader.parse(bytes(data[512:1536]))
    header = header.replace(
        parent_unique_id=parent_uuid,
        parent_unicode_name=parent_name.encode('utf-16-be')[:512].ljust(
            512, b'\0'),
        parent_locators=locator.pack().ljust(192, b'\0'))
    header.checksum = header.computed_checksum()
    footer = footer.replace(disk_type=c.DISK_TYPE_DIFFERENCING)
    footer.checksum = footer.computed_checksum()
    data[512:1536] = header.pack()
    data[0:512] = footer.pack()
    data[place:] = text.ljust(space * 512, b'\0') + footer.pack()
    with open(path, 'wb') as handle:
        handle.write(data)
    return path
