"""What one run of the checks shares: the open file, the options, the clock."""

from __future__ import annotations

import dataclasses
import os

from diskimage_vhd.format.footer import Footer
from diskimage_vhd.posix.io import file_size
from diskimage_vhd.xen import libvhd


@dataclasses.dataclass(frozen=True)
class CheckOptions:
    """vhd-util check's switches: -b, -i, -t, -B and -I."""

    check_bitmaps: bool = False
    ignore_footer: bool = False
    ignore_timestamps: bool = False
    skip_overlaps: bool = False
    ignore_parent_uuid: bool = False


class CheckRun:
    """One run of the checks over an open file; rule groups read and note
    what they learn here (the footer in force, whether there is a batmap).
    """

    def __init__(self, path: str, fd: int, options: CheckOptions, now: float):
        self.path = path
        self.fd = fd
        self.options = options
        self.now = now
        self.size = file_size(fd)
        self.footer: Footer | None = None
        self.primary_missing = False
        self.batmap_present: bool | None = None  # not looked at yet
        self.vhd: libvhd.Vhd | None = None

    def close(self) -> None:
        if self.vhd is not None:
            self.vhd.close()
        os.close(self.fd)
