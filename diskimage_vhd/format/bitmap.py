"""Bit maps: the batmap and each block's sector bitmap."""

from __future__ import annotations

from diskimage_vhd.format.constants import SECTOR_SIZE
from diskimage_vhd.format.units import round_up


# The sector bitmap libvhd writes before a 2 MiB block written whole: one
# sector with every one of its 4096 sectors marked present.
FULL_BLOCK_BITMAP = b'\xff' * SECTOR_SIZE


def bit_is_set(bits: bytes, index: int) -> bool:
    """Most significant bit first: byte ``index >> 3``, mask ``0x80 >> i&7``."""
    return bool(bits[index >> 3] & (0x80 >> (index & 7)))


def bit_is_set_tap_0_1(bits: bytes, index: int) -> bool:
    """tapdisk 0.1's order: 32-bit little-endian words, least bit first."""
    byte = (index >> 5) * 4 + ((index & 31) >> 3)
    return bool(bits[byte] & (1 << (index & 7)))


def set_bit(bits: bytearray, index: int) -> None:
    """Set bit ``index`` (most significant first) in place."""
    bits[index >> 3] |= 0x80 >> (index & 7)


def sector_bitmap_bytes(block_size: int) -> int:
    """The bitmap before each block: a bit a sector, in whole sectors."""
    return round_up(block_size // SECTOR_SIZE, 8 * SECTOR_SIZE) // 8


def covers_whole_block(bitmap: bytes, block_size: int) -> bool:
    """Whether a sector bitmap marks every sector of its block present."""
    used = block_size // SECTOR_SIZE // 8
    return bitmap[:used] == b'\xff' * used
