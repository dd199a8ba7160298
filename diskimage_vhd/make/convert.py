"""Every conversion between raw, fixed and dynamic, output written atomically."""

from __future__ import annotations

import dataclasses
import os
import uuid as uuidlib
from typing import Callable, Optional, Union

from diskimage_vhd.errors import describe_os_error
from diskimage_vhd.errors import NotAVhdError
from diskimage_vhd.errors import UsageError
from diskimage_vhd.errors import VhdError
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.layout import blocks_for
from diskimage_vhd.image.reader import VhdImage
from diskimage_vhd.image.sources import RawSource
from diskimage_vhd.image.sources import Source
from diskimage_vhd.make import identity
from diskimage_vhd.make.writer import write_dynamic
from diskimage_vhd.make.writer import write_fixed
from diskimage_vhd.make.writer import write_raw
from diskimage_vhd.make.writer import WriteResult
from diskimage_vhd.posix.atomic import AtomicOutput
from diskimage_vhd.sizes import format_size

FORMATS = ('raw', 'fixed', 'dynamic')
# XenServer preallocates metadata for 2 TiB; BAT sector numbers allow no more.
MAX_PREALLOCATED_SIZE = 2 * 1024 ** 4
ProgressCallback = Callable[[int, int], None]
Notify = Callable[[str], None]


@dataclasses.dataclass
class ConversionResult:
    source: str
    destination: str
    source_format: str
    target_format: str
    virtual_size: int
    file_size: int
    allocated_blocks: int
    unique_id: Optional[uuidlib.UUID]
    timestamp: Optional[int]


def detect_format(path: Union[str, os.PathLike]) -> str:
    """'raw', 'fixed', 'dynamic' or 'differencing', from the file's footer."""
    try:
        with VhdImage(path) as image:
            return c.DISK_TYPE_NAMES[image.footer.disk_type]
    except NotAVhdError:
        return 'raw'


def _same_file(source: str, destination: str) -> bool:
    if os.path.exists(destination):
        return os.path.samefile(source, destination)
    return os.path.realpath(source) == os.path.realpath(destination)


def _open_source(path: str, declared: Optional[str]) -> tuple:
    """Open ``path`` as a Source, checking it is what the caller declared."""
    if declared == 'raw':
        return RawSource(path), 'raw'
    try:
        image = VhdImage(path)
    except NotAVhdError:
        if declared in ('fixed', 'dynamic', 'vhd'):
            raise
        return RawSource(path), 'raw'
    actual = c.DISK_TYPE_NAMES[image.footer.disk_type]
    if actual == 'differencing':
        image.close()
        raise VhdError(path, 'is a differencing disk; its parent chain cannot '
                             'be converted')
    if declared not in (None, 'vhd', actual):
        image.close()
        raise VhdError(path, f'is a {actual} VHD, not {declared}')
    return image, actual


def check_virtual_size(path: str, size: int, rounded: int,
                       unit: str) -> None:
    """Refuse a disk whose size, rounded up to whole ``unit``, is past the
    largest a VHD holds; say both exact numbers, as a rounded-off size such
    as "2.0 TiB" could read as within the limit.
    """
    if rounded > c.MAX_VIRTUAL_SIZE:
        raise VhdError(path, f'is {size} bytes; rounded up to whole {unit} '
                             f'that is {rounded}, past the '
                             f'{c.MAX_VIRTUAL_SIZE} bytes '
                             f'({c.MAX_VIRTUAL_SIZE >> 30} GiB) a VHD holds')


def _dynamic_geometry(source: Source, max_size: Optional[int]) -> tuple:
    """Virtual size (whole blocks) and BAT entries for a dynamic target."""
    size = blocks_for(source.size) * c.BLOCK_SIZE
    check_virtual_size(source.path, source.size, size, '2 MiB blocks')
    entries = blocks_for(size)
    if max_size is not None:
        if max_size > MAX_PREALLOCATED_SIZE:
            raise UsageError(None, f'maximum size {format_size(max_size)} is '
                                   'beyond the 2 TiB a VHD can address')
        if max_size < size:
            raise UsageError(None, f'maximum size {format_size(max_size)} is '
                                   f'smaller than the disk ({format_size(size)})')
        entries = blocks_for(max_size)
    return size, entries


def convert(source: Union[str, os.PathLike], destination: Union[str, os.PathLike],
            *, source_format: Optional[str] = None,
            target_format: str = 'dynamic', allocate_all: bool = False,
            max_size: Optional[int] = None,
            timestamp: Union[str, int, None] = None,
            unique_id: Optional[uuidlib.UUID] = None,
            progress: Optional[ProgressCallback] = None,
            notify: Optional[Notify] = None) -> ConversionResult:
    """Convert ``source`` to ``destination`` as ``target_format``.

    The default turns a raw image into the XenServer flavour of dynamic VHD,
    holding only the blocks with data.  The destination appears only when
    complete; the source is never changed.
    """
    source, destination = os.fspath(source), os.fspath(destination)
    if target_format not in FORMATS:
        raise UsageError(None, f'unknown target format {target_format!r}')
    if source_format not in (None, 'vhd') + FORMATS:
        raise UsageError(None, f'unknown source format {source_format!r}')
    unix_time = identity.resolve_timestamp(timestamp)
    reproducible = unique_id is None and identity.is_reproducible(timestamp)
    if os.path.exists(source) and _same_file(source, destination):
        raise UsageError(destination, 'is the source itself; write to another '
                                      'name')
    opened, actual = _open_source(source, source_format)
    try:
        if opened.size == 0:
            raise VhdError(source, 'is empty: there is no disk to convert')

        def make_footer(disk_type: int, size: int,
                        digest: bytes = b'') -> Footer:
            return identity.stamped_footer(disk_type, size, unix_time,
                                           unique_id, reproducible, digest)

        def report(done: int) -> None:
            if progress:
                progress(done, opened.size)

        try:
            with AtomicOutput(destination) as output:
                result = _write(opened, output.fd, target_format, allocate_all,
                                max_size, make_footer, report, notify,
                                digest_content=reproducible)
                opened.check_unchanged()
                output.commit()
        except OSError as error:
            raise VhdError(destination, describe_os_error(error)) from None
    finally:
        opened.close()
    footer = result.footer
    return ConversionResult(
        source=source, destination=destination, source_format=actual,
        target_format=target_format, virtual_size=result.virtual_size,
        file_size=result.file_size, allocated_blocks=result.allocated_blocks,
        unique_id=footer.uuid if footer else None,
        timestamp=unix_time if footer else None)


def _write(source: Source, fd: int, target_format: str, allocate_all: bool,
           max_size: Optional[int], make_footer: Callable, report: Callable,
           notify: Optional[Notify], digest_content: bool = True
           ) -> WriteResult:
    """Write the target; hash the content only if a UUID is derived from it."""
    if target_format == 'dynamic':
        size, entries = _dynamic_geometry(source, max_size)
        if size != source.size and notify:
            notify(f'{source.path}: {source.size} bytes is not a whole number '
                   f'of 2 MiB blocks; the virtual size is rounded up to '
                   f'{size} (the added tail reads as zeros)')
        return write_dynamic(
            source, fd, virtual_size=size, max_table_entries=entries,
            allocate_all=allocate_all, progress=report,
            digest_content=digest_content,
            make_footer=lambda digest: make_footer(c.DISK_TYPE_DYNAMIC, size,
                                                   digest))
    if target_format == 'fixed':
        size = -(-source.size // c.SECTOR_SIZE) * c.SECTOR_SIZE
        if size != source.size and notify:
            notify(f'{source.path}: {source.size} bytes is not a whole number '
                   f'of sectors; padded with zeros to {size}')
        return write_fixed(source, fd, size=size, progress=report,
                           footer=make_footer(c.DISK_TYPE_FIXED, size))
    return write_raw(source, fd, size=source.size, progress=report)
