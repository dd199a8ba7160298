"""Option parsing as vhd-util's getopt does it: short options, any order."""

from __future__ import annotations

from collections.abc import Sequence
import getopt

from diskimage_vhd.errors import UsageError
from diskimage_vhd.sizes import ASCII_DIGITS
from diskimage_vhd.sizes import MAX_DIGITS


# The options this drop-in adds to vhd-util's (convert, create), so that
# a file can be reproduced exactly.
STAMP_OPTIONS = ('timestamp=', 'uuid=')
ULLONG_MAX = 2 ** 64 - 1


# UsageError kinds the drop-in answers with the subcommand's usage text,
# as vhd-util does: a malformed command line, and -h (not an error).
SYNTAX = 'syntax'
HELP = 'help'


def usage(reason: str = '') -> UsageError:
    """A malformed command line (``reason`` says how, if anything does)."""
    return UsageError(None, reason, kind=SYNTAX)


class NotProvided(Exception):
    """An option of the real vhd-util that diskimage-vhd does not implement."""


def parse(args: Sequence[str], spec: str, supported: str | None = None,
          long_options: Sequence[str] = ()) -> dict[str, str]:
    """Parse ``args`` against a getopt ``spec``; the last value of each wins.

    Options in ``spec`` but not in ``supported`` raise NotProvided, so a
    script relying on them fails loudly instead of getting other output.
    Leftover operands are a usage error, as vhd-util's ``optind != argc``.
    """
    try:
        # --help as well as vhd-util's -h: what people type first.
        pairs, rest = getopt.gnu_getopt(list(args), spec,
                                        list(long_options) + ['help'])
    except getopt.GetoptError as error:
        raise usage(str(error)) from None
    if rest:
        raise usage(f'unexpected argument {rest[0]!r}')
    found: dict[str, str] = {}
    for flag, value in pairs:
        key = flag.lstrip('-')
        if key in ('h', 'help'):
            raise UsageError(None, '', kind=HELP)
        if supported is not None and len(key) == 1 and key not in supported:
            raise NotProvided(flag)
        found[key] = value
    return found


def number(text: str) -> int:
    """``strtoull(text, NULL, 10)``: leading ASCII digits, 0 if there are
    none, and past 2^64 - 1 that number, as strtoull saturates.
    """
    digits: list[str] = []
    for char in text.strip():
        if char not in ASCII_DIGITS:
            break
        digits.append(char)
    if len(digits) > MAX_DIGITS or (digits and int(''.join(digits)) > ULLONG_MAX):
        return ULLONG_MAX
    return int(''.join(digits)) if digits else 0
