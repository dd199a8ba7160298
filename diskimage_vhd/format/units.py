"""Round-ups between bytes, sectors and blocks, as every reader and writer uses."""

from __future__ import annotations

from diskimage_vhd.format.constants import BLOCK_SIZE
from diskimage_vhd.format.constants import SECTOR_SIZE


def ceil_div(value: int, unit: int) -> int:
    """``ceil(value / unit)`` in integers."""
    return -(-value // unit)


def round_up(value: int, unit: int) -> int:
    """``value`` rounded up to a multiple of ``unit``."""
    return ceil_div(value, unit) * unit


def sectors_for(size: int) -> int:
    """Whole sectors needed to hold ``size`` bytes."""
    return ceil_div(size, SECTOR_SIZE)


def sector_padded(size: int) -> int:
    """``size`` rounded up to whole sectors (libvhd's ``vhd_bytes_padded``)."""
    return round_up(size, SECTOR_SIZE)


def sectors_at_least_one(size: int) -> int:
    """Sectors for ``size`` bytes, at least one (``secs_round_up_no_zero``)."""
    return max(1, sectors_for(size))


def blocks_for(size: int, block_size: int = BLOCK_SIZE) -> int:
    """Blocks of ``block_size`` needed to hold ``size`` bytes."""
    return ceil_div(size, block_size)
