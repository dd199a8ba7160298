"""diskimage-vhd: XenServer-flavoured VHD images in pure Python.

The API has the powers of the ``diskimage-vhd`` command: ``convert`` (raw,
fixed and dynamic in every direction), ``inspect`` (a summary as a dict) and
``check`` (every rule of ``vhd-util check`` plus XenServer readiness),
``assess`` (readiness for import into XenServer or Rackspace);
``measure``, ``stream`` (to a pipe) and ``VhdFile`` (the VHD as a seekable
file made on demand, for uploaders) write no file at all.
"""

from __future__ import annotations

from typing import Any, Optional

from diskimage_vhd.make.convert import ConversionResult, convert
from diskimage_vhd.make.stream import Measurement, measure, stream
from diskimage_vhd.make.vhdfile import VhdFile
from diskimage_vhd.errors import InvalidVhdError, VhdError
from diskimage_vhd.image.summary import inspect

__all__ = ['ConversionResult', 'InvalidVhdError', 'Measurement', 'VhdError',
           'VhdFile', 'assess', 'check', 'convert', 'inspect', 'measure',
           'stream']


def check(path: str, check_bitmaps: bool = False) -> Any:
    """Check ``path`` as ``vhd-util check`` does, and that this package
    reads it (``convert`` and ``inspect`` then agree); see
    ``xen.check.CheckReport``."""
    from diskimage_vhd.xen.check import check as run_check
    return run_check(path, check_bitmaps=check_bitmaps, readable=True)


def assess(path: str, target: str, now: Optional[float] = None) -> Any:
    """Apply every rule of ``target`` (xenserver or rackspace) to ``path``,
    judging its timestamp against ``now`` (default the clock); see
    ``diskimage_vhd.xen.targets.Readiness``."""
    from diskimage_vhd.xen.targets import assess as run_assess
    return run_assess(path, target, now=now)
