"""``vhd-util create``: an empty dynamic disk (or, with ``-r``, a fixed one).

Laid out byte for byte as libvhd's ``vhd_create``: sizes in MiB rounded up
to whole 2 MiB blocks, ``-S`` sizing the BAT and batmap for later growth.
The timestamp is now or ``SOURCE_DATE_EPOCH``; ``--timestamp`` and
``--uuid`` (extensions) fix them, so a file can be reproduced exactly.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import struct
import uuid as uuidlib
from typing import Callable, List, Optional

from diskimage_vhd.errors import describe_os_error
from diskimage_vhd.errors import VhdError
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.layout import blocks_for
from diskimage_vhd.image.sources import EmptySource
from diskimage_vhd.make.convert import MAX_PREALLOCATED_SIZE
from diskimage_vhd.make import identity
from diskimage_vhd.make.writer import write_all
from diskimage_vhd.make.writer import write_dynamic
from diskimage_vhd.posix.atomic import AtomicOutput
from diskimage_vhd.vhdutil.options import number
from diskimage_vhd.vhdutil.options import parse
from diskimage_vhd.vhdutil.options import Usage

SPEC = 'n:s:S:rh'
LONG = ('timestamp=', 'uuid=')
USAGE = ('options: <-n name> <-s size (MB)> [-r reserve] [-h help] '
         '[<-S size (MB) for metadata preallocation (see vhd-util resize)>] '
         '[--timestamp TIME] [--uuid UUID]')
MiB = 1024 * 1024


def _footer_maker(disk_type: int, size: int, unix_time: int,
                  unique_id: Optional[uuidlib.UUID], reproducible: bool
                  ) -> Callable[[bytes], Footer]:
    return functools.partial(identity.stamped_footer, disk_type, size,
                             unix_time, unique_id, reproducible)


def create(name: str, size_mb: int, metadata_mb: int, reserve: bool,
           timestamp: Optional[str] = None,
           unique_id: Optional[uuidlib.UUID] = None) -> None:
    """Write the disk ``vhd_create`` would write, atomically."""
    size = blocks_for(size_mb * MiB) * c.BLOCK_SIZE
    reserved = blocks_for(max(metadata_mb, size_mb) * MiB) * c.BLOCK_SIZE
    if size > c.MAX_VIRTUAL_SIZE:
        raise VhdError(name, f'{size_mb} MB is beyond the 2040 GiB a VHD '
                             'holds')
    if reserved > MAX_PREALLOCATED_SIZE:
        raise VhdError(name, f'{metadata_mb} MB of metadata preallocation is '
                             'beyond the 2 TiB a VHD can address')
    unix_time = identity.resolve_timestamp(timestamp)
    reproducible = identity.is_reproducible(timestamp)
    with AtomicOutput(name) as output:
        try:
            if reserve:
                make = _footer_maker(c.DISK_TYPE_FIXED, size, unix_time,
                                     unique_id, reproducible)
                _write_fixed(output.fd, reserved, make(
                    hashlib.sha256(struct.pack('>QQ?', size, reserved,
                                               True)).digest()))
            else:
                write_dynamic(EmptySource(size, name), output.fd,
                              virtual_size=size,
                              max_table_entries=blocks_for(reserved),
                              allocate_all=False,
                              make_footer=_footer_maker(
                                  c.DISK_TYPE_DYNAMIC, size, unix_time,
                                  unique_id, reproducible))
            output.commit()
        except OSError as error:
            raise VhdError(name, describe_os_error(error)) from None


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


def run(args: List[str], out: Callable[[str], None]) -> int:
    found = parse(args, SPEC, long_options=LONG)
    name = found.get('n')
    if name is None or ('s' not in found and 'S' not in found):
        raise Usage()
    size_mb = number(found.get('s', '0'))
    metadata_mb = number(found.get('S', '0'))
    if metadata_mb and metadata_mb < size_mb:
        out('Error: <-S size> must be greater than <-s size>')
        return errno.EINVAL
    unique_id = (identity.parse_uuid(found['uuid']) if 'uuid' in found
                 else None)
    create(name, size_mb, metadata_mb, 'r' in found,
           timestamp=found.get('timestamp'), unique_id=unique_id)
    return 0
