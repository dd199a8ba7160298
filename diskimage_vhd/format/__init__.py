"""The VHD on-disk structures, each packed and parsed by one piece of code."""

from diskimage_vhd.format.bitmap import bit_is_set, set_bit
from diskimage_vhd.format.constants import (
    BLOCK_SIZE, DISK_TYPE_DIFFERENCING, DISK_TYPE_DYNAMIC, DISK_TYPE_FIXED,
    SECTOR_SIZE, UNALLOCATED)
from diskimage_vhd.format.batmap import BatmapHeader, batmap_checksum
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.geometry import chs_geometry
from diskimage_vhd.format.header import DynamicHeader

__all__ = [
    'BLOCK_SIZE', 'BatmapHeader', 'DISK_TYPE_DIFFERENCING', 'DISK_TYPE_DYNAMIC',
    'DISK_TYPE_FIXED', 'DynamicHeader', 'Footer', 'SECTOR_SIZE', 'UNALLOCATED',
    'batmap_checksum', 'bit_is_set', 'chs_geometry', 'set_bit',
]
