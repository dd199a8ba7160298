"""diskimage-vhd: XenServer-flavoured VHD images in pure Python.

The API has the powers of the ``diskimage-vhd`` command: ``convert`` (raw,
fixed and dynamic in every direction), ``inspect`` (a summary as a dict) and
``check`` (every rule of ``vhd-util check`` plus XenServer readiness).
"""

from __future__ import annotations

from typing import Any

from diskimage_vhd.errors import InvalidVhdError
from diskimage_vhd.errors import VhdError
from diskimage_vhd.image.summary import inspect
from diskimage_vhd.make.convert import ConversionResult
from diskimage_vhd.make.convert import convert

__all__ = ['ConversionResult', 'InvalidVhdError', 'VhdError', 'check',
           'convert', 'inspect']


def check(path: str, check_bitmaps: bool = False) -> Any:
    """Check ``path`` as ``vhd-util check`` does; see ``checker.CheckReport``."""
    from diskimage_vhd.xen.checker import check as run_check
    return run_check(path, check_bitmaps=check_bitmaps)
