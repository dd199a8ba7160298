"""The installed version, as pbr recorded it."""

from __future__ import annotations


def version_string() -> str:
    try:
        import pbr.version
        return pbr.version.VersionInfo('diskimage-vhd').version_string()
    except Exception:  # not installed: running from a bare checkout
        return 'unknown'
