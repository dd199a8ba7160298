"""``diskimage-vhd measure``: the exact size ``convert`` would write."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from diskimage_vhd.console.shown import shown
from diskimage_vhd.errors import UsageError
from diskimage_vhd.format.shapes import TARGETS
from diskimage_vhd.format.sizing import AUTO
from diskimage_vhd.format.sizing import SIZE_RULES
from diskimage_vhd.make.convert import FORMATS
from diskimage_vhd.make.convert import resolve_format
from diskimage_vhd.make.stream import measure
from diskimage_vhd import sizes
from diskimage_vhd.sizes import format_size


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        'measure', help='print the exact size convert would write, without '
                        'writing',
        description='Print the exact size of the file "convert SOURCE" would '
                    'write (and "convert SOURCE -" would stream), and the '
                    'blocks it would allocate, without writing anything. '
                    'Finding the data reads the first page of each data '
                    'extent; holes are not read.')
    parser.add_argument('source', metavar='SOURCE')
    add_layout_options(parser, 'measure the disk made for TARGET (azure: '
                               'fixed, rounded up to whole MiB)')
    parser.add_argument('--json', action='store_true', help='print JSON')


def add_size_rule_option(parser: argparse.ArgumentParser) -> None:
    """``--size-from``: how a VHD's size is read (format/sizing.py)."""
    parser.add_argument('--size-from', dest='size_rule', choices=SIZE_RULES,
                        default=AUTO,
                        help="where a VHD's size is read from: its footer's "
                             'current size, its CHS geometry, or auto (the '
                             'current size, except for Virtual PC and old '
                             'qemu disks with no data past the geometry; '
                             'default: %(default)s)')


def add_layout_options(parser: argparse.ArgumentParser,
                       for_help: str) -> None:
    """The options that decide the layout, as ``convert`` has them."""
    add_size_rule_option(parser)
    parser.add_argument('--from', dest='source_format',
                        choices=('raw', 'vhd', 'fixed', 'dynamic'),
                        help='what SOURCE is (default: detected from its '
                             'footer)')
    parser.add_argument('--to', dest='target_format', choices=FORMATS,
                        help="what to write (default: dynamic, or what "
                             "--for's target takes)")
    parser.add_argument('--for', dest='target', choices=TARGETS,
                        help=for_help)
    parser.add_argument('--allocate-all', action='store_true',
                        help='write every block, zeros included, as the old '
                             'patched vhd-util did (dynamic only)')
    parser.add_argument('--size', metavar='SIZE',
                        help="the disk's size instead of SOURCE's (e.g. 4G; "
                             'plain numbers are MiB): larger adds zeros, '
                             'smaller is refused if it would cut data')
    parser.add_argument('--max-size', metavar='SIZE',
                        help='preallocate metadata so XenServer can grow the '
                             'disk online up to SIZE (e.g. 2T), like '
                             '"vhd-util create -S" (dynamic only)')


def layout_options(args: argparse.Namespace) -> dict:
    """``--to`` as ``--for`` shapes it, ``--allocate-all``, ``--max-size``
    (checked against the format) and ``--size``.
    """
    args.target_format = resolve_format(args.target, args.target_format)
    if args.target_format != 'dynamic' and (args.allocate_all
                                            or args.max_size):
        raise UsageError(None, '--allocate-all and --max-size apply only to '
                               '--to dynamic')
    return {'target': args.target, 'allocate_all': args.allocate_all,
            'size_rule': args.size_rule,
            'max_size': _size_option('--max-size', args.max_size),
            'size': _size_option('--size', args.size)}


def _size_option(option: str, text: str | None) -> int | None:
    """A size option's bytes (a plain number is MiB), None if not given."""
    try:
        return sizes.parse_size(text, 'M') if text else None
    except ValueError as error:
        raise UsageError(None, f'{option}: {error}') from None


def run(args: argparse.Namespace, out: Any | None = None) -> int:
    layout = layout_options(args)
    result = measure(args.source, source_format=args.source_format,
                     target_format=args.target_format, **layout)
    if args.json:
        print(json.dumps(dataclasses.asdict(result), indent=2,
                         sort_keys=True), file=out)
        return 0
    kind = 'image' if result.target_format == 'raw' else 'VHD'
    print(shown(f'{result.source}: {result.target_format} {kind}'), file=out)
    print(f'  {"file size:":18}{format_size(result.file_size)} '
          f'({result.file_size} bytes)', file=out)
    print(f'  {"virtual size:":18}{format_size(result.virtual_size)} '
          f'({result.virtual_size} bytes)', file=out)
    if result.target_format == 'dynamic':
        print(f'  {"allocated blocks:":18}{result.allocated_blocks} of '
              f'{result.blocks}', file=out)
    return 0
