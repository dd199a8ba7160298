"""Human sizes ("2T", "2048M") as the tools' options and DIB variables take them."""

from __future__ import annotations

import re

_UNITS = {'': 1, 'B': 1, 'K': 1024, 'M': 1024 ** 2, 'G': 1024 ** 3,
          'T': 1024 ** 4}
_PATTERN = re.compile(r'^\s*([0-9]+)\s*([KMGT]?)(?:I?B)?\s*$',
                      re.IGNORECASE | re.ASCII)
# Digits a number may have: 2^64 has 20.  Longer input is refused before
# int() sees it (past 4300 digits int() raises; ``²`` is a digit to
# str.isdigit but not to int()).
MAX_DIGITS = 20
ASCII_DIGITS = frozenset('0123456789')


def is_number(text: str) -> bool:
    """Whether ``text`` is plain ASCII digits, at most ``MAX_DIGITS``."""
    return 0 < len(text) <= MAX_DIGITS and set(text) <= ASCII_DIGITS


def parse_number(text: str, signed: bool = False) -> int:
    """The one parser of whole numbers a user types: ASCII digits only
    (a ``-`` first if ``signed``), at most ``MAX_DIGITS`` of them.
    """
    negative = signed and text.startswith('-')
    digits = text[1:] if negative else text
    if not is_number(digits):
        raise ValueError(f'not a whole number of at most {MAX_DIGITS} '
                         f'digits: {text[:40]!r}')
    return -int(digits) if negative else int(digits)


def parse_size(text: str, default_unit: str = '') -> int:
    """Parse ``2T``, ``2048M``, ``2GiB`` or a plain number of ``default_unit``.

    Units are binary (K = 1024), as vhd-util's MiB and DIB's sizes are.
    """
    match = _PATTERN.match(str(text))
    if not match or len(match.group(1)) > MAX_DIGITS:
        raise ValueError(f'not a size: {str(text)[:40]!r} (use e.g. 2048M '
                         'or 2T)')
    unit = (match.group(2) or default_unit).upper()
    return parse_number(match.group(1)) * _UNITS[unit]


def format_size(size: int) -> str:
    """A short human size, exact where it can be (``6 MiB``, ``5.0 GiB``)."""
    for unit, name in ((1024 ** 4, 'TiB'), (1024 ** 3, 'GiB'),
                       (1024 ** 2, 'MiB'), (1024, 'KiB')):
        if size >= unit:
            if size % unit == 0:
                return f'{size // unit} {name}'
            return f'{size / unit:.1f} {name}'
    return f'{size} bytes'


def plural(count: int, noun: str) -> str:
    """``1 block``, ``2 blocks``: for messages people read."""
    return f'{count} {noun}' if count == 1 else f'{count} {noun}s'
