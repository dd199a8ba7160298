"""Where ``convert`` writes: a file or standard output, and checksum files.

The checksum files (``make.sidecars``) are computed while the image is
written and committed with it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from diskimage_vhd.errors import os_error
from diskimage_vhd.errors import UsageError
from diskimage_vhd.make import sidecars
from diskimage_vhd.make.sinks import CHECKSUMS
from diskimage_vhd.make.sinks import STDOUT_NAME
from diskimage_vhd.make.stream import stream
from diskimage_vhd.posix import guard

STDOUT_FILENO = guard.STDOUT_FILENO


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--checksum', action='append', choices=CHECKSUMS,
                        default=[], metavar='ALGO',
                        help='also write DESTINATION.ALGO in the format of '
                             'sha256sum/md5sum, computed while writing '
                             '(sha256 or md5; repeatable)')
    parser.add_argument('--checksum-file', action='append', default=[],
                        metavar='ALGO=PATH',
                        help='write the ALGO checksum of the output to PATH '
                             '(repeatable; the way to get checksums when '
                             'DESTINATION is -)')


def checksum_files(args: argparse.Namespace) -> dict[str, list]:
    """``{algorithm: [paths]}`` from ``--checksum`` and ``--checksum-file``."""
    files: dict[str, list] = {}
    if args.checksum and args.destination == STDOUT_NAME:
        raise UsageError(None, '--checksum names files beside DESTINATION; '
                               'with - use --checksum-file ALGO=PATH')
    for algorithm in args.checksum:
        files.setdefault(algorithm, []).append(
            f'{args.destination}.{algorithm}')
    for item in args.checksum_file:
        algorithm, _, path = item.partition('=')
        if algorithm not in CHECKSUMS or not path:
            raise UsageError(None, f'--checksum-file {item!r}: expected '
                                   f'ALGO=PATH, ALGO one of '
                                   f'{", ".join(CHECKSUMS)}')
        files.setdefault(algorithm, []).append(path)
    return files


def to_stdout(args: argparse.Namespace, files: sidecars.Sidecars,
              **options: Any) -> Any:
    """Stream the conversion to standard output, refusing a terminal.

    The checksum files are checked before the stream starts and written
    after it ends; standard output must not be the source.
    """
    fd = STDOUT_FILENO
    try:
        os.fstat(fd)
    except OSError as error:
        raise os_error(STDOUT_NAME, error) from None
    if os.isatty(fd):
        raise UsageError(None, 'refusing to write a disk image to a '
                               'terminal; redirect standard output or name '
                               'a file')
    guard.check_all(sidecars.paths(files), [args.source], stdout=True)
    if sys.stdout is not None:
        sys.stdout.flush()
    result = stream(args.source, fd, **options)
    sidecars.write_sidecars(files, result.checksums, STDOUT_NAME,
                            options.get('notify'), options.get('sync', False))
    return result
