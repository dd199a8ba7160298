"""The 1024-byte dynamic disk header ("cxsparse")."""

from __future__ import annotations

import uuid as uuidlib

from diskimage_vhd.format import bat
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.locator import ParentLocator
from diskimage_vhd.format.locator import parse_locators
from diskimage_vhd.format.structure import field
from diskimage_vhd.format.structure import structure
from diskimage_vhd.format.structure import Structure


@structure
class DynamicHeader(Structure):
    """Every field of the dynamic header, in on-disk order."""

    SELF_CHECKSUM = True

    cookie: bytes = field('8s')
    data_offset: int = field('Q')
    table_offset: int = field('Q')
    header_version: int = field('I')
    max_table_entries: int = field('I')
    block_size: int = field('I')
    checksum: int = field('I')
    parent_unique_id: bytes = field('16s')
    parent_timestamp: int = field('I')
    reserved1: int = field('I')
    parent_unicode_name: bytes = field('512s')
    parent_locators: bytes = field('192s')  # 8 x format.locator.ParentLocator
    reserved2: bytes = field('256s')

    @classmethod
    def for_xenserver(cls, max_table_entries: int) -> DynamicHeader:
        """Build the header libvhd writes for a disk with no parent."""
        header = cls(
            cookie=c.HEADER_COOKIE, data_offset=c.NO_DATA_OFFSET,
            table_offset=c.TABLE_OFFSET, header_version=c.HEADER_VERSION,
            max_table_entries=max_table_entries, block_size=c.BLOCK_SIZE,
            checksum=0, parent_unique_id=bytes(16), parent_timestamp=0,
            reserved1=0, parent_unicode_name=bytes(512),
            parent_locators=bytes(192), reserved2=bytes(256))
        header.checksum = header.computed_checksum()
        return header

    @property
    def parent_uuid(self) -> uuidlib.UUID:
        return uuidlib.UUID(bytes=self.parent_unique_id)

    @property
    def locators(self) -> list[ParentLocator]:
        return parse_locators(self.parent_locators)

    @property
    def table_end(self) -> int:
        """The end of the BAT's entries (not of its padding)."""
        return self.table_offset + self.max_table_entries * bat.ENTRY_SIZE
