"""Most-significant-bit-first bit maps, as used by the batmap and sector bitmaps."""

from __future__ import annotations


def bit_is_set(bits: bytes, index: int) -> bool:
    """Tell whether bit ``index`` is set (byte ``index >> 3``, mask ``0x80 >> i&7``)."""
    return bool(bits[index >> 3] & (0x80 >> (index & 7)))


def set_bit(bits: bytearray, index: int) -> None:
    """Set bit ``index`` in place."""
    bits[index >> 3] |= 0x80 >> (index & 7)
