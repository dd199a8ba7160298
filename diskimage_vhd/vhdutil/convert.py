"""``vhd-util convert``, with the file semantics of the patched blktap tool.

diskimage-builder relies on them: raw -> fixed appends a footer to the input
in place and renames it; fixed -> dynamic renames the input to ``IN.bak``
first and leaves it there (DIB removes it under ``set -e``).  Unlike the old
tool, the dynamic disk is sparse unless ``DIB_VHD_ALLOCATE_ALL=1``, and an
unsupported pair is an error.  With ``DIB_VHD_TARGET=azure`` the last step
(fixed -> dynamic) writes the disk Azure takes instead: fixed, whole MiB.
"""

from __future__ import annotations

from collections.abc import Mapping
import errno
import os
from typing import Callable
import uuid as uuidlib

from diskimage_vhd.errors import EmptyDiskError
from diskimage_vhd.errors import UsageError
from diskimage_vhd.errors import VhdError
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.shapes import shape_of
from diskimage_vhd.format.units import sector_padded
from diskimage_vhd.image.sources import RawSource
from diskimage_vhd.make.convert import convert
from diskimage_vhd.make.convert import open_input as open_vhd_input
from diskimage_vhd.make import identity
from diskimage_vhd.make.target_size import check_virtual_size
from diskimage_vhd.make.target_size import target_size
from diskimage_vhd.posix import guard
from diskimage_vhd.posix.io import file_size
from diskimage_vhd.posix.io import lock_in_place
from diskimage_vhd.posix.io import open_in_place
from diskimage_vhd.posix.io import open_input
from diskimage_vhd.posix import outcome
from diskimage_vhd.posix import signals
from diskimage_vhd.sizes import format_size
from diskimage_vhd.sizes import parse_size
from diskimage_vhd.sizes import plural
from diskimage_vhd.vhdutil.environment import environment_flag
from diskimage_vhd.vhdutil.environment import SYNC
from diskimage_vhd.vhdutil.inplace import append_and_rename
from diskimage_vhd.vhdutil.inplace import footer_at_end
from diskimage_vhd.vhdutil.inplace import rename
from diskimage_vhd.vhdutil.inplace import rename_and_cut
from diskimage_vhd.vhdutil.options import parse
from diskimage_vhd.vhdutil.options import STAMP_OPTIONS
from diskimage_vhd.vhdutil.options import usage
from diskimage_vhd.vhdutil.target import check_output
from diskimage_vhd.vhdutil.target import dib_target
from diskimage_vhd.vhdutil.target import VARIABLE

SPEC = 'i:o:s:t:h'
USAGE = ('options: <-i input file> <-o output file> <-s source type> '
         '<-t target type> [--timestamp TIME] [--uuid UUID] [-h help]\n'
         'types: 0 raw, 1 fixed, 2 dynamic (sparse; DIB_VHD_ALLOCATE_ALL=1 '
         'writes every block, DIB_VHD_MAX_SIZE preallocates metadata); '
         'DIB_VHD_SYNC=1 flushes the output to disk before it appears')
UNSUPPORTED = ('Currently, only RAW <-> FIXED, FIXED <-> DYNAMIC convert is '
               'supported.')
TYPES = {'0': 'raw', '1': 'fixed', '2': 'dynamic', '3': 'differencing'}


def environment_options(environ: Mapping[str, str],
                        importer: str | None = None) -> dict[str, object]:
    """``DIB_VHD_ALLOCATE_ALL`` and ``DIB_VHD_MAX_SIZE`` (a plain number is
    MiB): dynamic disks' options, refused for an importer of fixed ones.
    """
    allocate_all = environment_flag(environ, 'DIB_VHD_ALLOCATE_ALL')
    max_size = None
    text = environ.get('DIB_VHD_MAX_SIZE', '').strip()
    if text:
        try:
            max_size = parse_size(text, 'M')
        except ValueError as error:
            raise UsageError(None, f'DIB_VHD_MAX_SIZE: {error}') from None
    fixed_only = shape_of(importer).target_format
    if fixed_only and (allocate_all or max_size is not None):
        raise UsageError(None, f'DIB_VHD_ALLOCATE_ALL and DIB_VHD_MAX_SIZE '
                               f'shape dynamic disks; {VARIABLE}={importer} '
                               f'makes a {fixed_only} one: unset them')
    return {'allocate_all': allocate_all, 'max_size': max_size}


def raw_to_fixed(source: str, target: str, timestamp: str | None,
                 unique_id: uuidlib.UUID | None,
                 say: Callable[[str], None], warn: Callable[[str], None],
                 sync: bool = False) -> None:
    """Append a fixed footer to ``source`` in place, then rename it.

    Flushed only with ``sync``: this is DIB's scratch copy, which its own
    cp left unflushed too; flushing it writes the whole image to disk once
    more before the real conversion (1.6 s for 1.5 GiB here).
    """
    fd = open_in_place(source)
    try:
        if footer_at_end(fd) is not None:
            raise VhdError(source, 'already ends in a VHD footer; not adding '
                                   'another (convert it from type 1 instead)')
        stamp = identity.Stamp.resolve(timestamp, unique_id)
        size = file_size(fd)
        padded = sector_padded(size)
        check_virtual_size(source, size, padded, 'sectors')
        if padded == 0:
            raise EmptyDiskError(source, 'is empty: there is no disk to '
                                         'convert')
        footer = _fixed_footer(source, padded, stamp)
        append_and_rename(fd, source, target,
                          bytes(padded - size) + footer.pack(), sync)
    finally:
        os.close(fd)
    if padded != size:
        warn(f'{source}: {size} bytes is not a whole number of sectors; '
             f'padded with zeros to {padded}')
    say(f'{source}: RAW -> FIXED: footer added ({padded} bytes of data), '
        f'written to {target}')


def _fixed_footer(source: str, size: int, stamp: identity.Stamp) -> Footer:
    """The footer ``convert --to fixed`` would stamp on the same content.

    A reproducible UUID needs the content digest: the input is read once
    more for it (its holes are not), only then.
    """
    digest = None
    if stamp.needs_digest:
        with RawSource(source) as opened:
            digest = identity.content_digest(opened, size)
    return stamp.footer(c.DISK_TYPE_FIXED, size, digest)


def fixed_to_raw(source: str, target: str, say: Callable[[str], None],
                 sync: bool = False) -> None:
    """Remove the fixed footer from ``source`` in place, then rename it."""
    fd = open_in_place(source)
    try:
        footer = footer_at_end(fd)
        if footer is None or footer.disk_type != c.DISK_TYPE_FIXED:
            raise VhdError(source, 'is not a fixed VHD (no fixed footer at '
                                   'its end)')
        rename_and_cut(fd, source, target, file_size(fd) - c.FOOTER_SIZE,
                       sync)
    finally:
        os.close(fd)
    say(f'{source}: FIXED -> RAW: footer removed, written to {target}')


def via_backup(source: str, target: str, source_format: str,
               target_format: str, options: dict[str, object],
               say: Callable[[str], None], importer: str | None = None
               ) -> None:
    """Rename ``source`` to ``source.bak``, convert it to ``target``.

    The ``.bak`` is left behind as the old tool left it, on failure too:
    the input then survives, unchanged, under the one name a caller of the
    old tool knows to look for, and nothing appears at ``target``.
    """
    backup = source + '.bak'
    fd = open_input(source)
    try:
        lock_in_place(fd, source)  # until the conversion is done
        footer = footer_at_end(fd)
        if footer is None or c.DISK_TYPE_NAMES.get(
                footer.disk_type) != source_format:
            raise VhdError(source, f'is not a {source_format} VHD')
        shape = shape_of(importer).target_format or target_format
        _check_conversion(source, target, source_format, shape, options)
        with signals.held():  # a signal now names where IN went
            rename(source, backup)
            outcome.record(f'{source} is kept as {backup}')
        try:
            result = convert(backup, target, source_format=source_format,
                             target_format=shape, target=importer, **options)
        except VhdError as error:
            raise error.amended(f'{error.problem} (the input is kept as '
                                f'{backup})') from None
    finally:
        os.close(fd)
    if result.target_format != target_format:
        say(f'{source}: {source_format.upper()} -> '
            f'{result.target_format.upper()} for {importer} '
            f'({VARIABLE}={importer}; {importer} takes no '
            f'{target_format} disk): written to {target} '
            f'({result.virtual_size} bytes, whole MiB); input kept as '
            f'{backup}')
        return
    say(f'{source}: {source_format.upper()} -> {target_format.upper()}: '
        f'written to {target} ({format_size(result.virtual_size)}, '
        f'{plural(result.allocated_blocks, "block")} allocated); input kept as '
        f'{backup}')


def _check_conversion(source: str, target: str, source_format: str,
                      target_format: str, options: dict[str, object]) -> None:
    """Everything that can fail before IN is renamed: times, sizes, OUT.

    Found after the rename, a bad ``--timestamp`` or ``DIB_VHD_MAX_SIZE``
    would leave the user an ``IN.bak`` to rename back by hand.
    """
    identity.Stamp.resolve(options.get('timestamp'), options.get('unique_id'))
    guard.check_all([target])  # -o IN is allowed: IN is renamed first
    opened, _actual = open_vhd_input(source, source_format, target_format)
    try:
        target_size(opened, target_format, options.get('max_size'))
    finally:
        opened.close()


def run(args: list[str], out: Callable[[str], None],
        err_out: Callable[[str], None],
        environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    found = parse(args, SPEC, long_options=STAMP_OPTIONS)
    if not all(key in found for key in 'iost'):
        raise usage()
    source, target = found['i'], found['o']
    pair = (TYPES.get(found['s'].strip()), TYPES.get(found['t'].strip()))
    timestamp = found.get('timestamp')
    unique_id = (identity.parse_uuid(found['uuid']) if 'uuid' in found
                 else None)
    sync = environment_flag(environ, SYNC)
    if pair == ('raw', 'fixed'):
        raw_to_fixed(source, target, timestamp, unique_id, out, err_out, sync)
    elif pair == ('fixed', 'raw'):
        fixed_to_raw(source, target, out, sync)
    elif pair in (('fixed', 'dynamic'), ('dynamic', 'fixed')):
        # DIB's last step: make and check the image for its importer
        # (target.py); one that takes only fixed disks gets one.
        importer = dib_target(environ) if pair[1] == 'dynamic' else None
        options = (environment_options(environ, importer)
                   if pair[1] == 'dynamic' else {})
        via_backup(source, target, pair[0], pair[1],
                   dict(options, timestamp=timestamp, unique_id=unique_id,
                        notify=err_out, sync=sync),
                   out, importer)
        if importer:
            check_output(target, importer, err_out)
    else:
        out(UNSUPPORTED)
        return errno.EINVAL
    return 0
