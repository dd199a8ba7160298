"""Text from a disk or a name, made safe to show: the one escaping rule.

A parent name, a locator, a creator field or a file name can hold any
bytes: a newline would forge a line of output (``child.vhd is valid``),
an escape sequence would drive the terminal (reset it, move the cursor,
set the window title).  Every message that quotes such text, and every
line the commands print, goes through ``printable``.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, the line and paragraph separators, the
# bidirectional overrides and isolates, and the surrogates that stand for
# bytes of a name that is not UTF-8.
_UNSAFE = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e'
                     '\u2066-\u2069\udc80-\udcff]')
_NAMED = {'\n': '\\n', '\r': '\\r', '\t': '\\t', '\x1b': '\\e'}


def _escape(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8
        return f'\\x{code - 0xDC00:02x}'
    return f'\\x{code:02x}' if code < 0x100 else f'\\u{code:04x}'


def printable(text: str) -> str:
    """``text`` as one line of plain characters: each control character,
    and each byte that is not UTF-8, written as a backslash escape
    (``\\n``, ``\\e``, ``\\x9b``).
    """
    return _UNSAFE.sub(_escape, text)
