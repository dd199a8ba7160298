"""The size of a conversion's target: the 2040 GiB limit, whole sectors
for a fixed disk, whole blocks and the BAT's entries for a dynamic one.
"""

from __future__ import annotations

from diskimage_vhd.errors import UsageError
from diskimage_vhd.errors import VhdError
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.units import blocks_for
from diskimage_vhd.format.units import sector_padded
from diskimage_vhd.image.sources import Source
from diskimage_vhd.sizes import format_size


def check_virtual_size(path: str, size: int, rounded: int,
                       unit: str) -> None:
    """The one check of the 2040 GiB limit, for every target and both
    commands: refuse a disk whose size, rounded up to whole ``unit``, is
    past the largest a VHD holds.  Both exact numbers are said, as a
    rounded-off size such as "2.0 TiB" could read as within the limit.
    """
    if rounded <= c.MAX_VIRTUAL_SIZE:
        return
    limit = (f'past the {c.MAX_VIRTUAL_SIZE} bytes '
             f'({c.MAX_VIRTUAL_SIZE >> 30} GiB) a VHD holds')
    if rounded == size:
        raise VhdError(path, f'is {size} bytes, {limit}')
    raise VhdError(path, f'is {size} bytes; rounded up to whole {unit} that '
                         f'is {rounded}, {limit}')


def _within_limit(source: Source, size: int, unit: str) -> int:
    """``size``, the target's, if a VHD can hold it (a raw target is held to
    it too: it bounds what a hostile footer can make us write).
    """
    check_virtual_size(source.path, source.size, size, unit)
    return size


def _dynamic_geometry(source: Source, max_size: int | None) -> tuple:
    """Virtual size (whole blocks) and BAT entries for a dynamic target."""
    size = _within_limit(source, blocks_for(source.size) * c.BLOCK_SIZE,
                         '2 MiB blocks')
    entries = blocks_for(size)
    if max_size is not None:
        if max_size > c.MAX_ADDRESSABLE_SIZE:
            raise UsageError(None, f'maximum size {format_size(max_size)} is '
                                   'beyond the 2 TiB a VHD can address')
        if max_size < size:
            raise UsageError(None, f'maximum size {format_size(max_size)} is '
                                   f'smaller than the disk ({format_size(size)})')
        entries = blocks_for(max_size)
    return size, entries


def target_size(source: Source, target_format: str,
                max_size: int | None = None) -> tuple[int, int]:
    """Virtual size and BAT entries (0 unless dynamic) of the target."""
    if target_format == 'dynamic':
        return _dynamic_geometry(source, max_size)
    if target_format == 'fixed':
        return _within_limit(source, sector_padded(source.size), 'sectors'), 0
    return _within_limit(source, source.size, 'bytes'), 0
