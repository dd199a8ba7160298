"""CHS geometry, computed as the VHD specification's appendix does."""

from __future__ import annotations

from typing import NamedTuple

from diskimage_vhd.format.constants import SECTOR_SIZE
from diskimage_vhd.format.units import sectors_for


class Geometry(NamedTuple):
    """Cylinders, heads and sectors per track, as the footer stores them (a
    triple: ``info`` shows it as one).
    """

    cylinders: int
    heads: int
    sectors_per_track: int

    @property
    def size(self) -> int:
        """The byte size the geometry can address, as readers that trust it see."""
        return (self.cylinders * self.heads * self.sectors_per_track
                * SECTOR_SIZE)


MAX_CHS_SECTORS = 65535 * 16 * 255


def chs_geometry(size: int) -> Geometry:
    """Return the geometry libvhd writes for a disk of ``size`` bytes."""
    sectors = sectors_for(size)
    sectors = min(sectors, MAX_CHS_SECTORS)
    if sectors >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cth = sectors // spt
    else:
        spt = 17
        cth = sectors // spt
        heads = max(4, (cth + 1023) // 1024)
        if cth >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cth = sectors // spt
        if cth >= heads * 1024:
            spt, heads = 63, 16
            cth = sectors // spt
    return Geometry(cth // heads, heads, spt)
