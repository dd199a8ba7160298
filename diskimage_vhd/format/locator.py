"""Parent locators: where a differencing disk says its parent is."""

from __future__ import annotations

import enum

from diskimage_vhd.format.constants import SECTOR_SIZE
from diskimage_vhd.format.structure import field
from diskimage_vhd.format.structure import structure
from diskimage_vhd.format.structure import Structure

LOCATOR_COUNT = 8


class PlatformCode(enum.IntEnum):
    """The platform codes libvhd accepts; the names are vhd-util's."""

    NONE = 0
    WI2R = 0x57693272
    WI2K = 0x5769326B
    W2RU = 0x57327275
    W2KU = 0x57326B75
    MAC = 0x4D616320
    MACX = 0x4D616358


# The codes whose data libvhd reads as a path to the parent.
PATH_CODES = (PlatformCode.MACX, PlatformCode.W2KU, PlatformCode.W2RU)


def is_platform_code(code: int) -> bool:
    return code in PlatformCode._value2member_map_


@structure
class ParentLocator(Structure):
    """One of the header's eight locator entries."""

    code: int = field('I')
    data_space: int = field('I')
    data_length: int = field('I')
    reserved: int = field('I')
    data_offset: int = field('Q')

    @property
    def data_bytes(self) -> int:
        """Bytes the data takes: its space is in sectors, or (MS compat)
        bytes; 0 for a space that is neither.
        """
        if self.data_space < SECTOR_SIZE:
            return self.data_space * SECTOR_SIZE
        if self.data_space % SECTOR_SIZE == 0:
            return self.data_space
        return 0


def parse_locators(raw: bytes) -> list[ParentLocator]:
    """The eight entries packed in a header's ``parent_locators`` field."""
    size = ParentLocator.SIZE  # type: ignore[attr-defined]
    return [ParentLocator.parse(raw[i * size:(i + 1) * size])  # type: ignore
            for i in range(LOCATOR_COUNT)]
