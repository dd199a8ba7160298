"""The ``diskimage-vhd`` command: convert, measure, info, check, elements-path."""

from __future__ import annotations

# First, before anything slow: a SIGINT during start-up ends quietly.
from diskimage_vhd.console import startup  # noqa: F401,H306
import argparse  # noqa: H306
from collections.abc import Sequence
import functools
import json
import sys
from typing import TextIO

from diskimage_vhd import check
from diskimage_vhd.cli import measure as measure_cli
from diskimage_vhd.cli import outputs
from diskimage_vhd.cli.outputs import STDOUT_NAME
from diskimage_vhd.console.progress import break_line
from diskimage_vhd.console.progress import Progress
from diskimage_vhd.console.run import finish_process
from diskimage_vhd.console.run import run_command
from diskimage_vhd.console.shown import json_safe
from diskimage_vhd.console.shown import shown
from diskimage_vhd.console import streams
from diskimage_vhd import dib
from diskimage_vhd.errors import EXIT_INVALID
from diskimage_vhd.errors import EXIT_OK
from diskimage_vhd.errors import UsageError
from diskimage_vhd.errors import VhdError
from diskimage_vhd.format.shapes import TARGETS
from diskimage_vhd.image.summary import inspect
from diskimage_vhd.make.convert import convert
from diskimage_vhd.make.identity import parse_uuid
from diskimage_vhd.sizes import format_size
from diskimage_vhd.sizes import plural
from diskimage_vhd.version import version_string

PROG = 'diskimage-vhd'


class _Version(argparse.Action):
    """``--version``, looked up only when asked: pbr's lookup takes some
    50 ms, more than all the rest of a conversion's start-up.
    """

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(f'{PROG} {version_string()}')
        parser.exit()


@functools.lru_cache(maxsize=None)
def _parser() -> argparse.ArgumentParser:
    """The command line, built once a process: building it costs more
    (about 4 ms) than checking a small disk, and ``main`` runs many times
    in one process under the fuzz campaign and the API's callers.
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='Make, inspect and check XenServer-ready VHD disk images.')
    parser.add_argument('--version', action=_Version, nargs=0,
                        default=argparse.SUPPRESS,
                        help="show program's version number and exit")
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')
    commands.required = True

    conv = commands.add_parser(
        'convert', help='convert a disk image (raw to dynamic VHD by default)',
        description='Convert SOURCE to DESTINATION. By default a raw image '
                    'becomes a sparse dynamic VHD in the XenServer flavour '
                    '(creator tap 1.3, batmap 1.2), holding only the 2 MiB '
                    'blocks that have data. A VHD source (from any writer, '
                    'qemu-img included) is detected and re-laid the same way. '
                    'DESTINATION appears only when complete, even if the '
                    'process is killed; --sync also makes it survive a '
                    'power cut.')
    conv.add_argument('source', metavar='SOURCE')
    conv.add_argument('destination', metavar='DESTINATION',
                      help='the file to write, or - for standard output '
                           '(one forward pass, the same bytes)')
    measure_cli.add_layout_options(
        conv, 'make the disk TARGET takes (azure: fixed, rounded up to whole '
              'MiB; xenserver, rackspace: the default), then check it is '
              'ready for import, print the findings and exit 22 (keeping the '
              'output) if it is not; a stream is made, not checked')
    conv.add_argument('--timestamp', metavar='TIME',
                      help='creation time to record, Unix seconds or ISO 8601 '
                           '(default: SOURCE_DATE_EPOCH if set, else now)')
    conv.add_argument('--uuid', metavar='UUID',
                      help='disk UUID (default: random; derived from the '
                           'content when SOURCE_DATE_EPOCH is set)')
    outputs.add_arguments(conv)
    conv.add_argument('--sync', action='store_true',
                      help='flush the output (and its directory) to the disk '
                           'before it appears, so it survives a power cut; '
                           'slower (default: as qemu-img and cp, no flush)')
    conv.add_argument('-q', '--quiet', action='store_true',
                      help='print nothing but errors')

    info = commands.add_parser('info', help='describe VHD or raw images',
                               description='Describe each FILE: format, '
                                           'sizes, creator, allocation.')
    info.add_argument('files', metavar='FILE', nargs='+')
    info.add_argument('--json', action='store_true',
                      help='print JSON, errors included (a list for several '
                           'files)')
    measure_cli.add_size_rule_option(info)

    chk = commands.add_parser(
        'check', help='check a VHD as vhd-util check does, plus XenServer '
                      'readiness',
        description='Check FILE against every rule of vhd-util check, and '
                    'warn about what would misbehave on XenServer. Exit 0 if '
                    'valid (warnings may be listed), 22 if invalid. With '
                    '--for TARGET, apply every rule of that importer '
                    '(problems, warnings, notes) and exit 22 on any problem.')
    chk.add_argument('file', metavar='FILE')
    chk.add_argument('--for', dest='target', choices=TARGETS,
                     help='check readiness for import into TARGET: '
                          'xenserver, rackspace (adds the partition and '
                          'upload rules), or azure (fixed, whole MiB, '
                          "Azure's upload limits)")
    chk.add_argument('-b', '--bitmaps', action='store_true',
                     help="also read each allocated block's sector bitmap")
    chk.add_argument('--json', action='store_true',
                     help='print JSON, errors included')
    measure_cli.add_size_rule_option(chk)

    measure_cli.add_parser(commands)

    commands.add_parser(
        'elements-path', help="print the directory of this package's DIB "
                              'elements, for ELEMENTS_PATH',
        description="Print the directory holding this package's "
                    'diskimage-builder elements (xenserver-vhd).')
    return parser


def _convert(args: argparse.Namespace) -> int:
    layout = measure_cli.layout_options(args)
    files = outputs.checksum_files(args)
    if args.target and args.target_format == 'raw':
        raise UsageError(None, '--for checks a VHD; it does not apply to '
                               '--to raw')
    unique_id = parse_uuid(args.uuid) if args.uuid is not None else None
    progress = None if args.quiet else Progress(f'converting {args.source}', 1)

    def report(done: int, total: int) -> None:
        progress.total = total
        progress(done)

    options = dict(source_format=args.source_format,
                   target_format=args.target_format, **layout,
                   timestamp=args.timestamp, unique_id=unique_id,
                   progress=report if progress else None,
                   notify=None if args.quiet else _warn,
                   checksums=sorted(files), sync=args.sync)
    if args.destination == STDOUT_NAME:
        result = outputs.to_stdout(args, files, **options)
    else:
        result = convert(args.source, args.destination,
                         checksum_files=files, **options)
    if progress:
        progress.finish()
        blocks = (f', {plural(result.allocated_blocks, "block")} allocated'
                  if result.target_format == 'dynamic' else '')
        print(shown(f'{result.destination}: {result.target_format} '
                    f'{"VHD" if result.target_format != "raw" else "image"}, '
                    f'{format_size(result.virtual_size)} virtual, '
                    f'{format_size(result.file_size)} file{blocks}'),
              file=sys.stderr)
    if args.target and args.destination != STDOUT_NAME:
        return _check_for(result.destination, args.target, stream=sys.stderr,
                          quiet=args.quiet)
    return 0


def _warn(message: str) -> None:
    break_line()
    print(shown(f'{PROG}: {message}'), file=sys.stderr)


INFO_LABELS = (
    ('format', 'format'), ('virtual_size', 'virtual size'),
    ('file_size', 'file size'), ('data_bytes', 'data'),
    ('creator', 'creator'), ('creator_version', 'creator version'),
    ('created', 'created'), ('uuid', 'uuid'), ('block_size', 'block size'),
    ('allocated_blocks', 'allocated blocks'), ('blocks', 'blocks'),
    ('max_size', 'max size'), ('batmap', 'batmap'),
    ('parent_name', 'parent name'), ('parent_uuid', 'parent uuid'),
)
SIZE_KEYS = {'virtual_size', 'file_size', 'data_bytes', 'block_size', 'max_size'}


def _print_json(value: object, stream: TextIO | None = None) -> None:
    """JSON for programs: the values made safe to print (``json_safe``)."""
    print(json.dumps(json_safe(value), indent=2, sort_keys=True),
          file=stream or sys.stdout)


def _json_error(path: str, error: VhdError) -> dict[str, object]:
    """What --json prints for a file that could not be read."""
    return {'path': path, 'error': error.problem,
            'exit_code': error.exit_code}


def _info(args: argparse.Namespace) -> int:
    """Describe each file; one that fails does not stop the others.

    The exit status is that of the first failure, as without --json.
    """
    status = 0
    described: list[dict[str, object]] = []
    for path in args.files:
        try:
            info = inspect(path, args.size_rule)
        except VhdError as error:
            if not args.json and len(args.files) == 1:
                raise
            if not args.json:
                _warn(str(error))  # and go on with the other files
            status = status or error.exit_code
            described.append(_json_error(path, error))
            continue
        described.append(info)
        if not args.json:
            _print_info(info)
    if args.json:
        _print_json(described if len(args.files) > 1 else described[0])
    return status


def _print_info(info: dict[str, object]) -> None:
    print(shown(info['path']))
    for key, label in INFO_LABELS:
        if key not in info:
            continue
        value = info[key]
        if key in SIZE_KEYS:
            value = f'{format_size(value)} ({value} bytes)'
        elif key == 'batmap':
            value = 'yes' if value else 'no'
        print(shown(f'  {label + ":":18}{value}'))
    for parent in info.get('chain', ()):  # type: ignore[attr-defined]
        print(shown(f'  {"parent:":18}{parent["path"]} ({parent["format"]}, '
                    f'uuid {parent["uuid"]})'))


def _check(args: argparse.Namespace) -> int:
    try:
        if args.target:
            return _check_for(args.file, args.target, args.json, args.bitmaps)
        report = check(args.file, check_bitmaps=args.bitmaps,
                       size_rule=args.size_rule)
    except VhdError as error:
        if not args.json:
            raise
        _print_json(_json_error(args.file, error))
        return error.exit_code
    if args.json:
        _print_json(report.to_dict())
    else:
        if report.valid:
            print(shown(f'{args.file} is valid'))
        else:
            # XenServer's words, then why, where they do not say it.
            detail = f' ({report.detail})' if report.detail else ''
            print(shown(f'{args.file} is invalid: {report.error}{detail}'))
        for warning in report.warnings:
            print(shown(f'warning: {warning}'))
    return EXIT_OK if report.valid else EXIT_INVALID


def _check_for(path: str, target: str, as_json: bool = False,
               bitmaps: bool = False, stream: TextIO | None = None,
               quiet: bool = False) -> int:
    """``check --for`` (and ``convert --for``): findings, then a verdict."""
    stream = stream or sys.stdout
    # XenServer's rules, imported only by the commands that apply them:
    # they are most of the package, and the one import a conversion's
    # start-up cannot afford (doc/source/architecture.rst).
    from diskimage_vhd.xen.targets import assess
    from diskimage_vhd.xen.targets import report_lines
    readiness = assess(path, target, check_bitmaps=bitmaps)
    if as_json:
        _print_json(readiness.to_dict(), stream)
    else:
        for line in report_lines(readiness, path, quiet):
            print(shown(line), file=stream)
    return EXIT_OK if readiness.ready else EXIT_INVALID


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command == 'convert':
        return _convert(args)
    if args.command == 'info':
        return _info(args)
    if args.command == 'check':
        return _check(args)
    if args.command == 'measure':
        return measure_cli.run(args)
    print(dib.elements_path())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    # Bytes from a disk or a name on any locale: a byte that is not text as
    # that byte, a character the encoding lacks escaped (\xe9); never a
    # UnicodeEncodeError, in every command.
    streams.configure()
    return run_command(PROG, streams.guarded(PROG, _main), argv)


def script() -> int:
    """The ``diskimage-vhd`` console script: ``main``, then the process ends."""
    return finish_process(main())


if __name__ == '__main__':
    sys.exit(script())
