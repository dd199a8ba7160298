"""diskimage-vhd: XenServer-flavoured VHD images in pure Python.

The API has the powers of the ``diskimage-vhd`` command: ``convert`` (raw,
fixed and dynamic in every direction), ``inspect`` (a summary as a dict) and
``check`` (every rule of ``vhd-util check`` plus XenServer readiness).
"""

__all__ = ['ConversionResult', 'InvalidVhdError', 'VhdError', 'check',
           'convert', 'inspect']
# Loaded on first use (PEP 562), so importing a submodule, as the commands
# do first thing, does not import the whole package before it can act.
_LAZY = {
    'ConversionResult': 'diskimage_vhd.make.convert',
    'convert': 'diskimage_vhd.make.convert',
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


def check(path: str, check_bitmaps: bool = False) -> object:
    """Check ``path`` as ``vhd-util check`` does; see ``checker.CheckReport``."""
    from diskimage_vhd.xen.checker import check as run_check
    return run_check(path, check_bitmaps=check_bitmaps)
