"""The block allocation table: big-endian 32-bit sector numbers."""

from __future__ import annotations

import array
import sys

from diskimage_vhd.format.constants import SECTOR_SIZE
from diskimage_vhd.format.constants import UNALLOCATED
from diskimage_vhd.format.units import round_up

ENTRY_SIZE = 4
assert UNALLOCATED == 0xFFFFFFFF


def decode(data: bytes) -> array.array:
    """Entries from their on-disk bytes (a whole number of entries)."""
    entries = array.array('I', data)
    if sys.byteorder == 'little':
        entries.byteswap()
    return entries


def encode(entries: array.array) -> memoryview:
    """On-disk bytes of ``entries``; swaps ``entries`` in place, so pass a
    table that is not used afterwards.
    """
    if sys.byteorder == 'little':
        entries.byteswap()
    return memoryview(entries).cast('B')


def table_bytes(entries: int) -> int:
    """The table's size on disk: padded to a whole sector."""
    return round_up(entries * ENTRY_SIZE, SECTOR_SIZE)
