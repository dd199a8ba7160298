"""The 1024-byte dynamic disk header ("cxsparse")."""

from __future__ import annotations

import dataclasses
import operator
import struct

from diskimage_vhd.format.checksum import structure_checksum
from diskimage_vhd.format import constants as c

_LAYOUT = struct.Struct('>8sQQIIII16sII512s192s256s')
CHECKSUM_OFFSET = 36


@dataclasses.dataclass
class DynamicHeader:
    """Every field of the dynamic header, in on-disk order."""

    cookie: bytes
    data_offset: int
    table_offset: int
    header_version: int
    max_table_entries: int
    block_size: int
    checksum: int
    parent_unique_id: bytes
    parent_timestamp: int
    reserved1: int
    parent_unicode_name: bytes
    parent_locators: bytes
    reserved2: bytes

    SIZE = _LAYOUT.size

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

    @classmethod
    def parse(cls, data: bytes) -> DynamicHeader:
        return cls(*_LAYOUT.unpack(data))

    def pack(self) -> bytes:
        return _LAYOUT.pack(*_fields(self))

    def computed_checksum(self) -> int:
        return structure_checksum(self.pack(), CHECKSUM_OFFSET)


# dataclasses.astuple deep-copies every field: a third of the time of
# opening a disk went there.  The fields are flat, so read them directly.
_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(DynamicHeader)))
