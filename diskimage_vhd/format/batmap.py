"""The batmap, XenServer's extension that marks fully allocated blocks."""

from __future__ import annotations

from diskimage_vhd.format import constants as c
from diskimage_vhd.format.creators import TAP_1_1
from diskimage_vhd.format.structure import field
from diskimage_vhd.format.structure import structure
from diskimage_vhd.format.structure import Structure
from diskimage_vhd.format.units import ceil_div
from diskimage_vhd.format.units import sectors_at_least_one

# Batmap 1.1 summed its bytes as signed chars; later versions unsigned.
BATMAP_VERSION_1_1 = TAP_1_1


def map_sectors(max_table_entries: int) -> int:
    """Sectors the map needs: one bit a block, at least one sector."""
    return sectors_at_least_one(ceil_div(max_table_entries, 8))


def checksummed_bytes(current_size: int) -> int:
    """Bytes of the map the checksum covers (and libvhd reads).

    ``current_size >> 24`` is a byte per 8 blocks of 2 MiB, rounded down:
    libvhd's own rule, at least one sector.
    """
    return sectors_at_least_one(current_size >> 24) * c.SECTOR_SIZE


def map_checksum(data: bytes, version: int = c.BATMAP_VERSION_1_2) -> int:
    """The one's-complement sum of the covered bytes (signed for 1.1)."""
    total = sum(data)
    if version == BATMAP_VERSION_1_1:
        total -= 256 * sum(1 for byte in data if byte >= 0x80)
    return ~total & 0xFFFFFFFF


def batmap_checksum(batmap: bytes, current_size: int) -> int:
    """The checksum a writer stores for the map ``batmap`` of a disk."""
    return map_checksum(batmap[:checksummed_bytes(current_size)])


@structure
class BatmapHeader(Structure):
    """Every field of the batmap header ("tdbatmap"), in on-disk order."""

    cookie: bytes = field('8s')
    batmap_offset: int = field('Q')
    batmap_size: int = field('I')  # sectors
    batmap_version: int = field('I')
    checksum: int = field('I')  # of the map, not of this header
    marker: int = field('B')
    keyhash: bytes = field('65s')
    reserved: bytes = field('418s')

    @classmethod
    def for_xenserver(cls, header_offset: int, max_table_entries: int,
                      checksum: int) -> BatmapHeader:
        return cls(
            cookie=c.BATMAP_COOKIE, batmap_offset=header_offset + c.SECTOR_SIZE,
            batmap_size=map_sectors(max_table_entries),
            batmap_version=c.BATMAP_VERSION_1_2, checksum=checksum, marker=0,
            keyhash=bytes(65), reserved=bytes(418))

    @property
    def valid(self) -> bool:
        """libvhd's ``vhd_validate_batmap_header``: cookie and a known version."""
        return (self.cookie == c.BATMAP_COOKIE
                and self.batmap_version <= c.BATMAP_VERSION_1_2)

    def covers(self, block: int) -> bool:
        """Whether the map has a bit for ``block`` (4096 a sector)."""
        return block < self.batmap_size << 12
