"""argparse without ``shutil``: a cheaper start-up for every command.

argparse's ``HelpFormatter`` imports ``shutil`` (and with it ``bz2``,
``lzma``, ``fnmatch``) only to ask the terminal's width, and builds one for
every argument added, help asked or not: a tenth of a conversion's
start-up.  The width is asked here as ``shutil.get_terminal_size`` does.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

FALLBACK_COLUMNS = 80


def terminal_columns() -> int:
    """``$COLUMNS``, else the width of standard output's terminal, else 80."""
    try:
        columns = int(os.environ['COLUMNS'])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0
    return columns or FALLBACK_COLUMNS


class Formatter(argparse.HelpFormatter):
    def __init__(self, prog: str, indent_increment: int = 2,
                 max_help_position: int = 24,
                 width: int | None = None):
        if width is None:  # as HelpFormatter computes it
            width = terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose subcommands' parsers are ``Parser`` too."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault('formatter_class', Formatter)
        super().__init__(*args, **kwargs)
