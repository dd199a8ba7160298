"""Creator applications and versions, and what readers infer from them."""

from __future__ import annotations

from diskimage_vhd.format.constants import CREATOR_TAP
# tapdisk's creator versions (major << 16 | minor).
TAP_0_1 = 0x00000001
TAP_1_1 = 0x00010001
TAP_1_2 = 0x00010002  # from here on a batmap is always present
TAP_1_3 = 0x00010003  # what libvhd writes today
# Old tapdisks kept the hidden flag out of the footer checksum.
TAP_HIDDEN_OUTSIDE_CHECKSUM = (TAP_0_1, TAP_1_1)


__all__ = ['CREATOR_TAP', 'HOST_OS_NAMES', 'TAP_0_1',
           'TAP_1_1', 'TAP_1_2', 'TAP_1_3', 'batmap_expected', 'is_tapdisk',
           'version_text']

HOST_OS_WINDOWS = 0x5769326B  # 'Wi2k'
HOST_OS_MACINTOSH = 0x4D616320  # 'Mac '
HOST_OS_NAMES = {HOST_OS_WINDOWS: 'Windows', HOST_OS_MACINTOSH: 'Macintosh'}


def is_tapdisk(creator_application: bytes) -> bool:
    """libvhd's test: the creator starts with ``tap`` (whatever follows)."""
    return creator_application[:3] == b'tap'


def batmap_expected(creator_application: bytes,
                    creator_version: int) -> bool | None:
    """``vhd_has_batmap``'s rule: True for tapdisk 1.2 and later (a batmap
    is always there), False for other creators and tapdisk 0.1, None for
    tapdisk 1.1 (there is one if its header is valid: look).
    """
    if not is_tapdisk(creator_application) or creator_version <= TAP_0_1:
        return False
    if creator_version >= TAP_1_2:
        return True
    return None


def version_text(version: int) -> str:
    """``1.3`` for ``0x00010003``."""
    return f'{version >> 16}.{version & 0xFFFF}'
