"""The VHD on-disk structures, each packed and parsed by one piece of code."""

from diskimage_vhd.format.batmap import batmap_checksum
from diskimage_vhd.format.batmap import BatmapHeader
from diskimage_vhd.format.bitmap import bit_is_set
from diskimage_vhd.format.bitmap import set_bit
from diskimage_vhd.format.constants import BLOCK_SIZE
from diskimage_vhd.format.constants import DISK_TYPE_DIFFERENCING
from diskimage_vhd.format.constants import DISK_TYPE_DYNAMIC
from diskimage_vhd.format.constants import DISK_TYPE_FIXED
from diskimage_vhd.format.constants import SECTOR_SIZE
from diskimage_vhd.format.constants import UNALLOCATED
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.geometry import chs_geometry
from diskimage_vhd.format.header import DynamicHeader

__all__ = [
    'BLOCK_SIZE', 'BatmapHeader', 'DISK_TYPE_DIFFERENCING', 'DISK_TYPE_DYNAMIC',
    'DISK_TYPE_FIXED', 'DynamicHeader', 'Footer', 'SECTOR_SIZE', 'UNALLOCATED',
    'batmap_checksum', 'bit_is_set', 'chs_geometry', 'set_bit',
]
