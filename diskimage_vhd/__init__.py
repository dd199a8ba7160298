"""diskimage-vhd: XenServer-flavoured VHD images in pure Python.

The API has the powers of the ``diskimage-vhd`` command: ``convert`` (raw,
fixed and dynamic in every direction), ``inspect`` (a summary as a dict) and
``check`` (every rule of ``vhd-util check`` plus XenServer readiness),
``assess`` (readiness for import into XenServer, Rackspace or Azure);
``measure``, ``stream`` (to a pipe) and ``VhdFile`` (the VHD as a seekable
file made on demand, for uploaders) write no file at all.
"""

from __future__ import annotations

# Not from typing: the package runs before each command's first line, which
# is where SIGINT gets its default action back (guarantees.rst), so it
# imports nothing at all.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


__all__ = ['ConversionResult', 'InvalidVhdError', 'Measurement', 'VhdError',
           'VhdFile', 'assess', 'check', 'convert', 'inspect', 'measure',
           'stream']
# Loaded on first use (PEP 562), so importing a submodule, as the commands
# do first thing, does not import the whole package before it can act.
_LAZY = {
    'ConversionResult': 'diskimage_vhd.make.convert',
    'convert': 'diskimage_vhd.make.convert',
    'Measurement': 'diskimage_vhd.make.stream',
    'measure': 'diskimage_vhd.make.stream',
    'stream': 'diskimage_vhd.make.stream',
    'VhdFile': 'diskimage_vhd.make.vhdfile',
    'InvalidVhdError': 'diskimage_vhd.errors',
    'VhdError': 'diskimage_vhd.errors',
    'inspect': 'diskimage_vhd.image.summary',
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    import importlib
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))


def check(path: str, check_bitmaps: bool = False,
          size_rule: str = 'auto') -> Any:
    """Check ``path`` as ``vhd-util check`` does, and that this package
    reads it (``convert`` and ``inspect`` then agree, ``size_rule`` as
    theirs); see ``xen.check.CheckReport``.
    """
    from diskimage_vhd.xen.check import check as run_check
    return run_check(path, check_bitmaps=check_bitmaps, readable=True,
                     size_rule=size_rule)


def assess(path: str, target: str, now: float | None = None) -> Any:
    """Apply every rule of ``target`` (xenserver, rackspace or azure) to
    ``path``, judging its timestamp against ``now`` (default the clock); see
    ``diskimage_vhd.xen.targets.Readiness``.
    """
    from diskimage_vhd.xen.targets import assess as run_assess
    return run_assess(path, target, now=now)
