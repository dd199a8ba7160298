"""The ``vhd-util`` command: XenServer's subcommands that diskimage-vhd provides.

``convert`` (the patched tool's, as diskimage-builder calls it), ``check``,
``read``, ``query`` and ``create``, with vhd-util's output and exit codes;
every other blktap subcommand is refused by name, so nothing pretends.
"""

from __future__ import annotations

# First, before anything slow: a SIGINT during start-up ends quietly.
from collections.abc import Sequence
from diskimage_vhd.cli import startup  # noqa: F401
import errno
import importlib
import sys
from typing import Callable

from diskimage_vhd.cli.run import finish_process
from diskimage_vhd.cli.run import run_command
from diskimage_vhd.version import version_string
from diskimage_vhd.vhdutil.options import NotProvided
from diskimage_vhd.vhdutil.options import Usage

PROG = 'vhd-util'
Runner = Callable[[list[str]], int]
# blktap's vhd-util subcommands that this drop-in does not implement.
NOT_PROVIDED = ('snapshot', 'set', 'repair', 'resize', 'fill', 'coalesce',
                'modify', 'scan', 'revert', 'key', 'copy', 'journal')


def _out(line: str) -> None:
    print(line)


def _err(line: str) -> None:
    print(line, file=sys.stderr)


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
        return errno.EINVAL
    runner, usage = command(name)
    try:
        return runner(rest)
    except Usage as problem:
        if problem.reason:
            print(f'{PROG} {name}: {problem.reason}', file=sys.stderr)
        print(usage)
        return problem.code
    except NotProvided as option:
        print(f'{PROG} {name}: option {option} is not provided by '
              'diskimage-vhd', file=sys.stderr)
        return errno.EINVAL


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vhd-util`` console script."""
    if hasattr(sys.stdout, 'reconfigure'):
        # Print bytes from disk headers as vhd-util does, whatever the locale.
        sys.stdout.reconfigure(errors='surrogateescape')
    return run_command(PROG, _main, argv)


def script() -> int:
    """The ``vhd-util`` console script: ``main``, then the process ends."""
    return finish_process(main())


if __name__ == '__main__':
    sys.exit(script())
