"""Where each piece of a dynamic disk lies: what a writer lays out and a
reader finds, computed once.

``HeaderLayout`` is a disk's layout as its header describes it (any
writer); ``DynamicLayout`` is the one libvhd, and so this package, writes.
"""

from __future__ import annotations

import dataclasses

from diskimage_vhd.format import bat
from diskimage_vhd.format.batmap import map_sectors
from diskimage_vhd.format.bitmap import sector_bitmap_bytes
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader


def next_block_sector(end_sector: int) -> int:
    """First sector at or after ``end_sector`` whose *next* sector is 4 KiB aligned.

    libvhd aligns each block's data (not its one-sector bitmap) to a page.
    """
    return end_sector + (7 - end_sector % 8) % 8


def batmap_header_offset(table_offset: int, max_table_entries: int) -> int:
    """libvhd's batmap header: right after the BAT, padded to a sector."""
    return table_offset + bat.table_bytes(max_table_entries)


@dataclasses.dataclass(frozen=True, slots=True)
class HeaderLayout:
    """A dynamic disk's metadata and blocks, where its footer and header say."""

    header_offset: int
    table_offset: int
    max_table_entries: int
    block_size: int

    @classmethod
    def of(cls, footer: Footer, header: DynamicHeader) -> HeaderLayout:
        return cls(footer.data_offset, header.table_offset,
                   header.max_table_entries, header.block_size)

    @property
    def entries_bytes(self) -> int:
        """The BAT read whole: its entries, not their padding."""
        return self.max_table_entries * bat.ENTRY_SIZE

    @property
    def table_end(self) -> int:
        """The end of the BAT's padding: its last whole sector."""
        return self.table_offset + bat.table_bytes(self.max_table_entries)

    @property
    def batmap_header_offset(self) -> int:
        return batmap_header_offset(self.table_offset, self.max_table_entries)

    @property
    def bitmap_bytes(self) -> int:
        """Each block's sector bitmap, padded to whole sectors."""
        return sector_bitmap_bytes(self.block_size)

    @property
    def block_span(self) -> int:
        """A block in the file: its bitmap, then its data."""
        return self.bitmap_bytes + self.block_size

    def metadata_end(self, batmap_end: int | None = None) -> int:
        """The first byte past the header and the padded BAT, and, for a
        disk with a batmap (its map ending at ``batmap_end``), past the
        batmap header and map.
        """
        end = max(self.header_offset + c.HEADER_SIZE, self.table_end)
        if batmap_end is not None:
            end = max(end, self.batmap_header_offset + c.SECTOR_SIZE,
                      batmap_end)
        return end

    def where(self, offset: int) -> tuple[int, int]:
        """The block holding virtual byte ``offset``, and where within it."""
        return divmod(offset, self.block_size)

    def data_offset(self, entry: int, within: int = 0) -> int:
        """The file offset of byte ``within`` of the block at BAT ``entry``."""
        return entry * c.SECTOR_SIZE + self.bitmap_bytes + within


@dataclasses.dataclass(frozen=True, slots=True)
class DynamicLayout:
    """Offsets of the metadata of a dynamic disk with ``max_table_entries``."""

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
        return batmap_header_offset(self.table_offset, self.max_table_entries)

    @property
    def batmap_offset(self) -> int:
        return self.batmap_header_offset + c.SECTOR_SIZE

    @property
    def batmap_bytes(self) -> int:
        return map_sectors(self.max_table_entries) * c.SECTOR_SIZE

    @property
    def metadata_end(self) -> int:
        return self.batmap_offset + self.batmap_bytes
