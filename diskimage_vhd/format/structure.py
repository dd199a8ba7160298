"""On-disk structures declared once, as a table of typed fields.

Each structure is a dataclass whose fields carry their ``struct`` code; the
layout, size, parser, packer and checksum offset all follow from that one
declaration, so a field cannot be added to one and forgotten in another.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any, TypeVar

from diskimage_vhd.format.checksum import structure_checksum

T = TypeVar('T', bound='Structure')
S = TypeVar('S', bound=type)


def field(code: str) -> Any:
    """A big-endian field of ``struct`` code ``code`` (``'I'``, ``'8s'`` ...)."""
    return dataclasses.field(metadata={'code': code})


class Structure:
    """What every structure shares; ``structure`` sets the class facts."""

    FIELDS: tuple[str, ...] = ()
    SIZE: int = 0
    OFFSETS: dict[str, int] = {}

    def values(self) -> tuple:
        """The fields' values, in on-disk order."""
        return tuple(getattr(self, name) for name in self.FIELDS)

    def replace(self: T, **changes: Any) -> T:
        """A copy with ``changes`` made."""
        return dataclasses.replace(self, **changes)


def structure(cls: S) -> S:
    """Make ``cls``, a ``Structure``, a dataclass (mutable, compared by
    value) and give it its ``FIELDS``, ``SIZE``, ``OFFSETS``, ``parse``,
    ``pack`` and, when it has a ``checksum`` field that covers the
    structure itself (declared with ``SELF_CHECKSUM = True``),
    ``computed_checksum``.  Fields are declared by ``field(code)``, in
    on-disk order.
    """
    cls = dataclasses.dataclass(cls)
    codes = {f.name: f.metadata['code'] for f in dataclasses.fields(cls)}
    layout = struct.Struct('>' + ''.join(codes.values()))
    offsets = {}
    position = 0
    for name, code in codes.items():
        offsets[name] = position
        position += struct.calcsize('>' + code)

    def parse(kind: type[T], data: bytes) -> T:
        """Parse exactly ``SIZE`` bytes; validating is the reader's job."""
        return kind(*layout.unpack(data))

    def pack(self: Any) -> bytes:
        return layout.pack(*self.values())

    cls.FIELDS = tuple(codes)
    cls.SIZE = layout.size
    cls.OFFSETS = offsets
    cls.parse = classmethod(parse)  # type: ignore[attr-defined]
    cls.pack = pack  # type: ignore[attr-defined]
    if getattr(cls, 'SELF_CHECKSUM', False):
        checksum_offset = offsets['checksum']

        def computed_checksum(self: Any) -> int:
            """The checksum these fields should carry."""
            return structure_checksum(pack(self), checksum_offset)

        cls.computed_checksum = computed_checksum  # type: ignore[attr-defined]
    return cls
