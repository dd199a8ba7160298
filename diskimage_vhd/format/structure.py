"""On-disk structures declared once, as a table of typed fields.

Each structure is a class whose annotated fields carry their ``struct``
code; the layout, size, constructor, parser, packer and checksum offset all
follow from that one declaration, so a field cannot be added to one and
forgotten in another.

The classes are made here rather than by ``dataclasses``: importing that
module (it imports ``inspect``, ``ast`` and ``dis``) and generating each
class's methods cost about 35 ms of every command's start-up on the
project's benchmark machine, a quarter of converting an empty 1 TiB disk.
A structure needs no more than fields set by position or name, comparison
by value, a readable ``repr`` and ``replace``.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from diskimage_vhd.format.checksum import structure_checksum

if TYPE_CHECKING:
    from typing import Any, TypeVar
    T = TypeVar('T')


class Field:
    """A big-endian field's ``struct`` code, until ``structure`` reads it."""

    __slots__ = ('code',)

    def __init__(self, code: str):
        self.code = code


def field(code: str) -> Any:
    """A big-endian field of ``struct`` code ``code`` (``'I'``, ``'8s'`` ...)."""
    return Field(code)


class Structure:
    """What every structure shares; ``FIELDS`` is set by ``structure``."""

    FIELDS: tuple[str, ...] = ()
    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __init__(self, *values: Any, **named: Any):
        if len(values) > len(self.FIELDS):
            raise TypeError(f'{type(self).__name__} takes {len(self.FIELDS)} '
                            f'fields, {len(values)} given')
        given = dict(zip(self.FIELDS, values))
        for name, value in named.items():
            if name not in self.FIELDS or name in given:
                raise TypeError(f'{type(self).__name__}: unexpected or '
                                f'repeated field {name!r}')
            given[name] = value
        if len(given) != len(self.FIELDS):
            missing = [n for n in self.FIELDS if n not in given]
            raise TypeError(f'{type(self).__name__}: missing fields '
                            f'{", ".join(missing)}')
        self.__dict__.update(given)

    def values(self) -> tuple:
        """The fields' values, in on-disk order."""
        return tuple(self.__dict__[name] for name in self.FIELDS)

    def replace(self: T, **changes: Any) -> T:
        """A copy with ``changes`` made (as ``dataclasses.replace``)."""
        fields = dict(zip(self.FIELDS, self.values()))  # type: ignore
        fields.update(changes)
        return type(self)(**fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.values() == other.values()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        fields = ', '.join(f'{name}={getattr(self, name)!r}'
                           for name in self.FIELDS)
        return f'{type(self).__name__}({fields})'


def structure(cls: type[T]) -> type[T]:
    """Give ``cls``, a ``Structure``, its ``FIELDS``, ``SIZE``, ``OFFSETS``,
    ``parse``, ``pack`` and, when it has a ``checksum`` field that covers
    the structure itself (declared with ``SELF_CHECKSUM = True``),
    ``computed_checksum``.  Fields are the annotated class attributes set
    to ``field(code)``, in declaration order.
    """
    codes: dict[str, str] = {}
    for name in cls.__dict__.get('__annotations__', {}):
        declared = cls.__dict__.get(name)
        if isinstance(declared, Field):
            codes[name] = declared.code
            delattr(cls, name)  # an instance always sets its own
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

    cls.FIELDS = tuple(codes)  # type: ignore[attr-defined]
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
