"""On-disk structures declared once, as a table of typed fields.

Each structure is a dataclass whose fields carry their ``struct`` code; the
layout, size, parser, packer and checksum offset all follow from that one
declaration, so a field cannot be added to one and forgotten in another.
"""

from __future__ import annotations

import dataclasses
import operator
import struct
from typing import Any, Callable, Type, TypeVar

from diskimage_vhd.format.checksum import structure_checksum

T = TypeVar('T')


def field(code: str) -> Any:
    """A big-endian field of ``struct`` code ``code`` (``'I'``, ``'8s'`` ...)."""
    return dataclasses.field(metadata={'struct': code})


def structure(cls: Type[T]) -> Type[T]:
    """Make ``cls`` a dataclass with ``SIZE``, ``parse``, ``pack`` and, when
    it has a ``checksum`` field that covers the structure itself (declared
    with ``SELF_CHECKSUM = True``), ``computed_checksum``.
    """
    cls = dataclasses.dataclass(cls)
    fields = dataclasses.fields(cls)
    layout = struct.Struct('>' + ''.join(f.metadata['struct'] for f in fields))
    values: Callable[[Any], tuple] = operator.attrgetter(
        *(f.name for f in fields))
    offsets = {}
    position = 0
    for item in fields:
        offsets[item.name] = position
        position += struct.calcsize('>' + item.metadata['struct'])

    def parse(kind: Type[T], data: bytes) -> T:
        """Parse exactly ``SIZE`` bytes; validating is the reader's job."""
        return kind(*layout.unpack(data))

    def pack(self: Any) -> bytes:
        # attrgetter, not dataclasses.astuple: that deep-copies every field,
        # and was a third of the time of opening a disk.
        return layout.pack(*values(self))

    cls.SIZE = layout.size  # type: ignore[attr-defined]
    cls.OFFSETS = offsets  # type: ignore[attr-defined]
    cls.parse = classmethod(parse)  # type: ignore[attr-defined]
    cls.pack = pack  # type: ignore[attr-defined]
    if getattr(cls, 'SELF_CHECKSUM', False):
        checksum_offset = offsets['checksum']

        def computed_checksum(self: Any) -> int:
            """The checksum these fields should carry."""
            return structure_checksum(pack(self), checksum_offset)

        cls.computed_checksum = computed_checksum  # type: ignore[attr-defined]
    return cls
