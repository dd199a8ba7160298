"""Every string from a disk or a path, made safe to print.

A parent name, a locator, a creator field or a file name can hold any
bytes: a newline would forge a line of output (``child.vhd is valid``),
an escape sequence would drive the terminal (reset it, move the cursor,
set the window title).  Text output passes each line it prints through
``shown`` (``format.printable``, the one escaping rule, which the
checker's messages use too); JSON output stays JSON,
with names that are not UTF-8 in the form ``json_safe`` documents.
"""

from __future__ import annotations

from diskimage_vhd.format.printable import printable

# The commands' name for it: each line of text output is ``shown``.
shown = printable


def json_safe(value: object) -> object:
    """``value`` with every string valid Unicode: a name that is not UTF-8
    has each such byte written ``\\xNN`` (JSON escapes control characters
    itself).
    """
    if isinstance(value, str):
        if any(0xD800 <= ord(char) <= 0xDFFF for char in value):
            return value.encode('utf-8', 'surrogateescape').decode(
                'utf-8', 'backslashreplace')
        return value
    if isinstance(value, dict):
        return {json_safe(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value
