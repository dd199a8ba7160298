"""How big a disk is: the one rule that turns a footer into a virtual size.

The footer says the size twice: ``current_size`` in bytes and the CHS
geometry.  Most writers (libvhd, Hyper-V, disk2vhd, DiscUtils, VirtualBox,
bochs, Xen Orchestra, Azure, qemu-img since it writes ``qem2``) keep
``current_size`` exact and round the geometry down, so a reader that trusts
the geometry drops the sectors past it (a GPT's backup header, often).
Only Virtual PC (``vpc ``) and old qemu (``qemu``) wrote a current size
larger than the disk they meant; for them, as for qemu's own reader, the
geometry is the size, unless the geometry is the largest CHS can say (the
disk is bigger) or data lies past it (then nothing may be dropped).
"""

from __future__ import annotations

from collections.abc import Callable

from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.geometry import MAX_CHS_SECTORS

AUTO = 'auto'
CURRENT_SIZE = 'current-size'
GEOMETRY = 'geometry'
SIZE_RULES = (AUTO, CURRENT_SIZE, GEOMETRY)

# Creators whose current size is not to be trusted: qemu's list (block/vpc.c).
GEOMETRY_CREATORS = (b'vpc ', b'qemu')


def geometry_may_size(footer: Footer) -> bool:
    """True where ``auto`` may take the geometry's size: a ``vpc ``/``qemu``
    creator and a geometry short of CHS's largest.
    """
    sectors = footer.cylinders * footer.heads * footer.sectors_per_track
    return (footer.creator_application in GEOMETRY_CREATORS
            and sectors != MAX_CHS_SECTORS)


def virtual_size(footer: Footer, rule: str,
                 data_past: Callable[[int], bool]) -> int:
    """The disk's size under ``rule`` (one of SIZE_RULES).

    ``data_past(offset)`` says whether the disk holds data at or past
    ``offset`` within ``current_size``; it is asked only where ``auto``
    would otherwise take a geometry smaller than the current size.
    """
    if rule not in SIZE_RULES:
        raise ValueError(f'unknown size rule {rule!r}')
    if rule == CURRENT_SIZE:
        return footer.current_size
    chs = footer.geometry.size
    if rule == GEOMETRY:
        return chs
    if not geometry_may_size(footer):
        return footer.current_size
    if chs < footer.current_size and data_past(chs):
        return footer.current_size
    return chs
