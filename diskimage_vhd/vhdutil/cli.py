"""The ``vhd-util`` command: XenServer's subcommands that diskimage-vhd provides.

``convert`` (the patched tool's, as diskimage-builder calls it), ``check``,
``read``, ``query`` and ``create``, with vhd-util's output and exit codes;
every other blktap subcommand is refused by name, so nothing pretends.
"""

from __future__ import annotations

# First, before anything slow: a SIGINT during start-up ends quietly.
from collections.abc import Sequence
from diskimage_vhd.console import startup  # noqa: F401
import importlib
import sys
from typing import Callable

from diskimage_vhd.console.run import finish_process
from diskimage_vhd.console.run import run_command
from diskimage_vhd.console.shown import shown
from diskimage_vhd.console import streams
from diskimage_vhd.errors import EXIT_INVALID
from diskimage_vhd.errors import EXIT_OK
from diskimage_vhd.errors import UsageError
from diskimage_vhd.version import version_string
from diskimage_vhd.vhdutil.options import HELP
from diskimage_vhd.vhdutil.options import NotProvided
from diskimage_vhd.vhdutil.options import SYNTAX

PROG = 'vhd-util'
Runner = Callable[[list[str]], int]
# blktap's vhd-util subcommands that this drop-in does not implement.
NOT_PROVIDED = ('snapshot', 'set', 'repair', 'resize', 'fill', 'coalesce',
                'modify', 'scan', 'revert', 'key', 'copy', 'journal')


def _out(line: str) -> None:
    print(shown(line))


def _err(line: str) -> None:
    print(shown(line), file=sys.stderr)


# name -> one-line summary; each command's module (vhdutil/NAME.py) is
# imported only when it runs: DIB's conversions need not load the checker.
SUMMARIES = {
    'convert': 'raw <-> fixed <-> dynamic, as disk-image-create -t vhd '
               'calls it',
    'check': 'check a VHD as XenServer does',
    'read': 'print a VHD\'s headers (-p) and BAT entries',
    'query': 'print sizes, parent, hidden flag, chain depth',
    'create': 'create an empty dynamic (or -r fixed) VHD',
    'target': 'print the importer DIB_VHD_TARGET names, or fail',
}
# The commands whose ``run`` takes a sink for errors as well as for output.
WITH_ERRORS = ('convert', 'check', 'read')


def command(name: str) -> tuple[Runner, str]:
    """The runner and usage text of command ``name`` (one of SUMMARIES)."""
    module = importlib.import_module(f'diskimage_vhd.vhdutil.{name}')
    if name in WITH_ERRORS:
        return (lambda a: module.run(a, _out, _err)), module.USAGE
    return (lambda a: module.run(a, _out)), module.USAGE


def help_text() -> str:
    table = SUMMARIES
    lines = [f'usage: {PROG} COMMAND [OPTIONS]',
             'COMMAND := { ' + ' | '.join(table) + ' }',
             '',
             f'diskimage-vhd {version_string()}: a drop-in for XenServer\'s '
             'vhd-util, providing:']
    lines += [f'  {name:8} {summary}' for name, summary in table.items()]
    lines += ['', f'Not provided: {", ".join(NOT_PROVIDED)}.',
              f'"{PROG} COMMAND -h" shows the options of a command.']
    return '\n'.join(lines)


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    args = [arg for arg in args if arg != '--debug']  # vhd-util ignores it
    if not args or args[0] in ('-h', '--help', 'help'):
        print(help_text())
        return 0
    if args[0] in ('--version', '-V', 'version'):
        print(f'{PROG} (diskimage-vhd) {version_string()}')
        return 0
    name, rest = args[0], args[1:]
    table = SUMMARIES
    if name not in table:
        known = name in NOT_PROVIDED
        print(f'{PROG}: {name}: ' + (
            'not provided by diskimage-vhd (it provides '
            if known else 'invalid COMMAND (diskimage-vhd provides ')
            + ', '.join(table) + ')', file=sys.stderr)
        return EXIT_INVALID
    runner, usage = command(name)
    try:
        return runner(rest)
    except UsageError as problem:
        if problem.kind not in (SYNTAX, HELP):
            raise  # a request that cannot be done: one line, EXIT_USAGE
        if problem.problem:
            print(f'{PROG} {name}: {problem.problem}', file=sys.stderr)
        print(usage)
        # vhd-util's status for a malformed command line is EINVAL.
        return EXIT_OK if problem.kind == HELP else EXIT_INVALID
    except NotProvided as option:
        print(f'{PROG} {name}: option {option} is not provided by '
              'diskimage-vhd', file=sys.stderr)
        return EXIT_INVALID


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vhd-util`` console script."""
    # Bytes from a disk or a name on any locale: a byte that is not text as
    # that byte, a character the encoding lacks escaped (\xe9); never a
    # UnicodeEncodeError, in every command.
    streams.configure()
    return run_command(PROG, streams.guarded(PROG, _main), argv)


def script() -> int:
    """The ``vhd-util`` console script: ``main``, then the process ends."""
    return finish_process(main())


if __name__ == '__main__':
    sys.exit(script())
