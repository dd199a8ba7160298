"""The one's-complement byte sum that every VHD structure carries."""

from __future__ import annotations


def structure_checksum(data: bytes, field_offset: int) -> int:
    """Checksum ``data`` with its own 4-byte checksum field taken as zero."""
    field = data[field_offset:field_offset + 4]
    return ~(sum(data) - sum(field)) & 0xFFFFFFFF
