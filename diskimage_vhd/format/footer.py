"""The 512-byte footer that ends every VHD (and starts every dynamic one)."""

from __future__ import annotations

import dataclasses
import operator
import struct
import uuid as uuidlib

from diskimage_vhd.format.checksum import structure_checksum
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.geometry import chs_geometry
from diskimage_vhd.format.geometry import Geometry

_LAYOUT = struct.Struct('>8sIIQI4sIIQQHBBII16sBB426s')
CHECKSUM_OFFSET = 64
HIDDEN_OFFSET = 85


@dataclasses.dataclass
class Footer:
    """Every field of the footer, in on-disk order, so packing is lossless."""

    cookie: bytes
    features: int
    file_format_version: int
    data_offset: int
    timestamp: int
    creator_application: bytes
    creator_version: int
    creator_host_os: int
    original_size: int
    current_size: int
    cylinders: int
    heads: int
    sectors_per_track: int
    disk_type: int
    checksum: int
    unique_id: bytes
    saved_state: int
    hidden: int
    reserved: bytes

    SIZE = _LAYOUT.size

    @classmethod
    def for_xenserver(cls, disk_type: int, size: int, timestamp: int,
                      unique_id: uuidlib.UUID) -> Footer:
        """Build the footer libvhd writes: creator ``tap`` 1.3, checksum set."""
        geometry = chs_geometry(size)
        footer = cls(
            cookie=c.FOOTER_COOKIE, features=c.FEATURES_RESERVED,
            file_format_version=c.FILE_FORMAT_VERSION,
            data_offset=(c.HEADER_OFFSET if disk_type != c.DISK_TYPE_FIXED
                         else c.NO_DATA_OFFSET),
            timestamp=timestamp, creator_application=c.CREATOR_TAP,
            creator_version=c.CREATOR_VERSION_1_3, creator_host_os=0,
            original_size=size, current_size=size,
            cylinders=geometry.cylinders, heads=geometry.heads,
            sectors_per_track=geometry.sectors_per_track, disk_type=disk_type,
            checksum=0, unique_id=unique_id.bytes, saved_state=0, hidden=0,
            reserved=bytes(426))
        footer.checksum = footer.computed_checksum()
        return footer

    @classmethod
    def parse(cls, data: bytes) -> Footer:
        """Parse 512 bytes; no validation, that is the checker's job."""
        return cls(*_LAYOUT.unpack(data))

    def pack(self) -> bytes:
        return _LAYOUT.pack(*_fields(self))

    def computed_checksum(self) -> int:
        return structure_checksum(self.pack(), CHECKSUM_OFFSET)

    @property
    def geometry(self) -> Geometry:
        return Geometry(self.cylinders, self.heads, self.sectors_per_track)

    @property
    def uuid(self) -> uuidlib.UUID:
        return uuidlib.UUID(bytes=self.unique_id)

    @property
    def creator(self) -> str:
        """The creator application as text, trailing NULs and spaces dropped."""
        return self.creator_application.rstrip(b'\0 ').decode('latin-1')

    @property
    def is_dynamic(self) -> bool:
        return self.disk_type in (c.DISK_TYPE_DYNAMIC, c.DISK_TYPE_DIFFERENCING)


# dataclasses.astuple deep-copies every field: a third of the time of
# opening a disk went there.  The fields are flat, so read them directly.
_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(Footer)))
