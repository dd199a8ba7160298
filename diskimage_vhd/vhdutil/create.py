"""``vhd-util create``: an empty dynamic disk (or, with ``-r``, a fixed one).

Laid out byte for byte as libvhd's ``vhd_create``: sizes in MiB rounded up
to whole 2 MiB blocks, ``-S`` sizing the BAT and batmap for later growth.
The timestamp is now or ``SOURCE_DATE_EPOCH``; ``--timestamp`` and
``--uuid`` (extensions) fix them, so a file can be reproduced exactly.
"""

from __future__ import annotations

import errno
import os
from typing import Callable
import uuid as uuidlib

from diskimage_vhd.errors import os_error
from diskimage_vhd.errors import VhdError
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.units import blocks_for
from diskimage_vhd.make import identity
from diskimage_vhd.make.plan import DynamicPlan
from diskimage_vhd.make.render import render
from diskimage_vhd.make.render import Rendering
from diskimage_vhd.make.sinks import FileSink
from diskimage_vhd.posix.atomic import AtomicOutput
from diskimage_vhd.posix.io import write_all
from diskimage_vhd.vhdutil.environment import environment_flag
from diskimage_vhd.vhdutil.environment import SYNC
from diskimage_vhd.vhdutil.options import number
from diskimage_vhd.vhdutil.options import parse
from diskimage_vhd.vhdutil.options import STAMP_OPTIONS
from diskimage_vhd.vhdutil.options import usage

SPEC = 'n:s:S:rh'
USAGE = ('options: <-n name> <-s size (MB)> [-r reserve] [-h help] '
         '[<-S size (MB) for metadata preallocation (see vhd-util resize)>] '
         '[--timestamp TIME] [--uuid UUID]')
MiB = 1024 * 1024


def create(name: str, size_mb: int, metadata_mb: int, reserve: bool,
           timestamp: str | None = None,
           unique_id: uuidlib.UUID | None = None, sync: bool = False) -> None:
    """Write the disk ``vhd_create`` would write, atomically (and flushed,
    with ``sync``).
    """
    size = blocks_for(size_mb * MiB) * c.BLOCK_SIZE
    reserved = blocks_for(max(metadata_mb, size_mb) * MiB) * c.BLOCK_SIZE
    if size > c.MAX_VIRTUAL_SIZE:
        raise VhdError(name, f'{size_mb} MB is beyond the 2040 GiB a VHD '
                             'holds')
    if reserved > c.MAX_ADDRESSABLE_SIZE:
        raise VhdError(name, f'{metadata_mb} MB of metadata preallocation is '
                             'beyond the 2 TiB a VHD can address')
    stamp = identity.Stamp.resolve(timestamp, unique_id)
    # The disk holds only zeros: its content digest is its size alone.
    digest = (identity.ContentDigest(size).digest() if stamp.needs_digest
              else None)
    with AtomicOutput(name, sync=sync) as output:
        try:
            if reserve:
                _write_fixed(output.fd, reserved,
                             stamp.footer(c.DISK_TYPE_FIXED, size, digest))
            else:
                footer = stamp.footer(c.DISK_TYPE_DYNAMIC, size, digest)
                empty = Rendering(DynamicPlan(size, blocks_for(reserved)),
                                  None, 0, footer)
                render(empty, FileSink(output.fd))
            output.commit()
        except OSError as error:
            raise os_error(name, error) from None


def _write_fixed(fd: int, data_size: int, footer: Footer) -> None:
    """``-r``: the zeroed data area reserved on disk, then the footer."""
    os.ftruncate(fd, data_size)
    if data_size:
        try:
            os.posix_fallocate(fd, 0, data_size)
        except (AttributeError, OSError) as error:
            if getattr(error, 'errno', None) not in (errno.EOPNOTSUPP,
                                                     errno.EINVAL, None):
                raise
    write_all(fd, footer.pack(), data_size)


def run(args: list[str], out: Callable[[str], None]) -> int:
    found = parse(args, SPEC, long_options=STAMP_OPTIONS)
    name = found.get('n')
    if name is None or ('s' not in found and 'S' not in found):
        raise usage()
    size_mb = number(found.get('s', '0'))
    metadata_mb = number(found.get('S', '0'))
    if metadata_mb and metadata_mb < size_mb:
        out('Error: <-S size> must be greater than <-s size>')
        return errno.EINVAL
    unique_id = (identity.parse_uuid(found['uuid']) if 'uuid' in found
                 else None)
    create(name, size_mb, metadata_mb, 'r' in found,
           timestamp=found.get('timestamp'), unique_id=unique_id,
           sync=environment_flag(os.environ, SYNC))
    return 0
