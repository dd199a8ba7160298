"""Where libvhd puts each piece of a dynamic disk."""

from __future__ import annotations

from collections import namedtuple

from diskimage_vhd.format import bat
from diskimage_vhd.format.batmap import map_sectors
from diskimage_vhd.format import constants as c


def next_block_sector(end_sector: int) -> int:
    """First sector at or after ``end_sector`` whose *next* sector is 4 KiB aligned.

    libvhd aligns each block's data (not its one-sector bitmap) to a page.
    """
    return end_sector + (7 - end_sector % 8) % 8


class DynamicLayout(namedtuple('DynamicLayout', 'max_table_entries')):
    """Offsets of the metadata of a dynamic disk with ``max_table_entries``."""

    __slots__ = ()
    max_table_entries: int

    @property
    def table_offset(self) -> int:
        return c.TABLE_OFFSET

    @property
    def table_bytes(self) -> int:
        """The BAT padded to a whole sector."""
        return bat.table_bytes(self.max_table_entries)

    @property
    def batmap_header_offset(self) -> int:
        return self.table_offset + self.table_bytes

    @property
    def batmap_offset(self) -> int:
        return self.batmap_header_offset + c.SECTOR_SIZE

    @property
    def batmap_bytes(self) -> int:
        return map_sectors(self.max_table_entries) * c.SECTOR_SIZE

    @property
    def metadata_end(self) -> int:
        return self.batmap_offset + self.batmap_bytes
