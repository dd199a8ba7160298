"""Numbers fixed by the VHD specification and by XenServer's libvhd."""

SECTOR_SIZE = 512
BLOCK_SIZE = 2 * 1024 * 1024
SECTORS_PER_BLOCK = BLOCK_SIZE // SECTOR_SIZE

FOOTER_SIZE = 512
HEADER_SIZE = 1024
HEADER_OFFSET = 512
TABLE_OFFSET = 1536

FOOTER_COOKIE = b'conectix'
HEADER_COOKIE = b'cxsparse'
BATMAP_COOKIE = b'tdbatmap'

DISK_TYPE_FIXED = 2
DISK_TYPE_DYNAMIC = 3
DISK_TYPE_DIFFERENCING = 4
DISK_TYPE_NAMES = {
    DISK_TYPE_FIXED: 'fixed', DISK_TYPE_DYNAMIC: 'dynamic',
    DISK_TYPE_DIFFERENCING: 'differencing',
}

FEATURES_RESERVED = 0x00000002
FILE_FORMAT_VERSION = 0x00010000
HEADER_VERSION = 0x00010000
NO_DATA_OFFSET = 0xFFFFFFFFFFFFFFFF
UNALLOCATED = 0xFFFFFFFF

# What libvhd writes; creators.py has the other creators and versions.
CREATOR_TAP = b'tap\0'
BATMAP_VERSION_1_2 = 0x00010002

# Seconds between the Unix epoch and the VHD epoch, 2000-01-01T00:00:00Z.
VHD_EPOCH = 946684800

# The VHD specification caps the virtual size at 2040 GiB (XenServer's sm
# calls it MAX_VHD_SIZE); 32-bit BAT sector numbers cap what a disk can
# address, and so XenServer's largest metadata preallocation, at 2 TiB.
MAX_VIRTUAL_SIZE = 2040 * 1024 ** 3
MAX_ADDRESSABLE_SIZE = 2 * 1024 ** 4
