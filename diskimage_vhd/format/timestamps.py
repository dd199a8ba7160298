"""VHD time: 32-bit seconds since 2000-01-01T00:00:00Z."""

from __future__ import annotations

import datetime

from diskimage_vhd.format.constants import VHD_EPOCH

MAX_VHD_SECONDS = 0xFFFFFFFF


def to_vhd(unix_seconds: int) -> int:
    """The footer value for a Unix time that fits (see ``fits``)."""
    return unix_seconds - VHD_EPOCH


def to_unix(vhd_seconds: int) -> int:
    return vhd_seconds + VHD_EPOCH


def fits(unix_seconds: int) -> bool:
    """Whether a Unix time can be stored: not before 2000, not past 2136."""
    return 0 <= unix_seconds - VHD_EPOCH <= MAX_VHD_SECONDS


def wrapped(unix_seconds: float) -> int:
    """A Unix time as libvhd computes it, wrapped to 32 bits (any time)."""
    return (int(unix_seconds) - VHD_EPOCH) & MAX_VHD_SECONDS


def as_datetime(vhd_seconds: int) -> datetime.datetime:
    """The moment a VHD timestamp names, in UTC."""
    return (datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
            + datetime.timedelta(seconds=vhd_seconds))


def iso(vhd_seconds: int) -> str:
    """``2026-11-25T21:17:05Z``."""
    return as_datetime(vhd_seconds).strftime('%Y-%m-%dT%H:%M:%SZ')
