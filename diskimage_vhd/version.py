"""The installed version, as pbr recorded it."""

from __future__ import annotations


def version_string() -> str:
    """The full version, development suffix included (``0.1.0.dev3``)."""
    try:
        import pbr.version
        return pbr.version.VersionInfo('diskimage-vhd').release_string()
    except Exception:  # not installed: running from a bare checkout
        return 'unknown'
