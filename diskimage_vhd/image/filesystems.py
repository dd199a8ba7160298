"""Which file system a partition holds, from its own superblock.

nova grows a root disk only if it holds ext3 or ext4 (``_auto_configure_disk``
asks parted, which reads the superblock as this module does), so the
readiness check needs the answer without mounting anything or running
blkid.  Each probe reads a few KiB at most; the names are blkid's.
"""

from __future__ import annotations

import struct
from typing import Protocol

# ext2/3/4: the superblock is 1024 bytes at 1024; its magic at 0x38.
EXT_SUPERBLOCK = 1024
EXT_MAGIC = 0xEF53
EXT_COMPAT_HAS_JOURNAL = 0x0004
EXT_INCOMPAT_JOURNAL_DEV = 0x0008
# What ext3 knows; any other feature makes the file system ext4 (blkid's
# EXT3_FEATURE_*_SUPP: FILETYPE, RECOVER and META_BG; SPARSE_SUPER,
# LARGE_FILE and BTREE_DIR).
EXT3_INCOMPAT_KNOWN = 0x0002 | 0x0004 | 0x0010
EXT3_RO_COMPAT_KNOWN = 0x0001 | 0x0002 | 0x0004

XFS_MAGIC = b'XFSB'
BTRFS_SUPERBLOCK = 64 * 1024
BTRFS_MAGIC = b'_BHRfS_M'
BTRFS_MAGIC_OFFSET = 0x40
SWAP_MAGICS = (b'SWAPSPACE2', b'SWAP-SPACE')
SWAP_PAGE_SIZES = (4096, 8192, 16384, 65536)
LVM2_LABEL = b'LABELONE'
LVM2_TYPE = b'LVM2 001'

EXT_NAMES = ('ext2', 'ext3', 'ext4')


class Disk(Protocol):
    """What a probe reads from: a VhdImage or a RawSource."""

    size: int

    def read_into(self, offset: int, view: memoryview) -> None:
        ...


def read_at(disk: Disk, offset: int, length: int) -> bytes:
    """``length`` bytes at ``offset``, zeros past the end of the disk."""
    buffer = bytearray(length)
    end = min(offset + length, disk.size)
    if 0 <= offset < end:
        disk.read_into(offset, memoryview(buffer)[:end - offset])
    return bytes(buffer)


def ext_kind(superblock: bytes) -> str | None:
    """ext2, ext3, ext4 or jbd (an external journal), from feature flags."""
    if struct.unpack_from('<H', superblock, 0x38)[0] != EXT_MAGIC:
        return None
    compat, incompat, ro_compat = struct.unpack_from('<III', superblock, 0x5C)
    if incompat & EXT_INCOMPAT_JOURNAL_DEV:
        return 'jbd'
    if incompat & ~EXT3_INCOMPAT_KNOWN or ro_compat & ~EXT3_RO_COMPAT_KNOWN:
        return 'ext4'
    return 'ext3' if compat & EXT_COMPAT_HAS_JOURNAL else 'ext2'


def _fat(boot: bytes) -> bool:
    """A FAT boot sector: signature, a sane BPB and a FAT type label."""
    if boot[510:512] != b'\x55\xaa':
        return False
    sector_size, per_cluster = struct.unpack_from('<HB', boot, 11)
    if sector_size not in (512, 1024, 2048, 4096) or per_cluster == 0 \
            or per_cluster & (per_cluster - 1):
        return False
    return boot[54:59] in (b'FAT12', b'FAT16') or boot[82:87] == b'FAT32'


def identify(disk: Disk, offset: int, size: int) -> str | None:
    """The file system (blkid's name) at ``offset``, or None if unknown."""
    head = read_at(disk, offset, 4096)
    if head[:4] == XFS_MAGIC:
        return 'xfs'
    if head[3:11] == b'NTFS    ':
        return 'ntfs'
    if _fat(head):
        return 'vfat'
    if head[512:520] == LVM2_LABEL and head[536:544] == LVM2_TYPE:
        return 'LVM2_member'
    kind = ext_kind(head[EXT_SUPERBLOCK:EXT_SUPERBLOCK + 1024])
    if kind:
        return kind
    for page in SWAP_PAGE_SIZES:
        if page > size:
            break
        tail = (head[page - 10:page] if page <= len(head)
                else read_at(disk, offset + page - 10, 10))
        if tail in SWAP_MAGICS:
            return 'swap'
    if size >= BTRFS_SUPERBLOCK + 4096:
        magic = read_at(disk, offset + BTRFS_SUPERBLOCK + BTRFS_MAGIC_OFFSET,
                        len(BTRFS_MAGIC))
        if magic == BTRFS_MAGIC:
            return 'btrfs'
    return None
