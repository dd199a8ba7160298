"""The shape of disk each importer takes: the one list of targets.

XenServer and Rackspace take the disk ``convert`` writes by default (the
caller picks raw, fixed or dynamic).  Azure takes only a fixed disk whose
virtual size is a whole number of MiB, and reads that size from the
footer's current size: ``force_size`` in qemu's words.  Pure: no I/O.
"""

from __future__ import annotations

import dataclasses

from diskimage_vhd.format.units import round_up

MIB = 1 << 20
DEFAULT_FORMAT = 'dynamic'


@dataclasses.dataclass(frozen=True, slots=True)
class Shape:
    """What a target demands: a format (None: the caller's choice) and a
    unit the virtual size is rounded up to (1: none beyond the format's),
    with that unit's name for messages.
    """

    target_format: str | None
    alignment: int
    unit: str

    def size_for(self, size: int) -> int:
        """``size`` rounded up to the target's unit."""
        return round_up(size, self.alignment)


FREE = Shape(None, 1, 'bytes')
SHAPES = {
    'xenserver': FREE,
    'rackspace': FREE,
    'azure': Shape('fixed', MIB, 'MiB'),
}
# The importers ``--for`` and ``DIB_VHD_TARGET`` know, in the order shown.
TARGETS = tuple(SHAPES)


def shape_of(target: str | None) -> Shape:
    """The shape ``target`` demands; no target demands nothing."""
    if target is None:
        return FREE
    try:
        return SHAPES[target]
    except KeyError:
        raise ValueError(f'unknown target {target!r}; one of '
                         f'{", ".join(TARGETS)}') from None


def format_for(target: str | None, requested: str | None) -> str:
    """The format to write: the target's, else the one asked for, else
    dynamic.  Asking a target for another format than its own is an error.
    """
    demanded = shape_of(target).target_format
    if demanded is None:
        return requested or DEFAULT_FORMAT
    if requested not in (None, demanded):
        raise ValueError(f'{target} takes only {demanded} disks, not '
                         f'{requested}')
    return demanded
