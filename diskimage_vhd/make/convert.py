"""Every conversion between raw, fixed and dynamic, output written atomically."""

from __future__ import annotations

from collections.abc import Callable, Sequence
import contextlib
import dataclasses
import os
import uuid as uuidlib

from diskimage_vhd.errors import EmptyDiskError
from diskimage_vhd.errors import NotAVhdError
from diskimage_vhd.errors import os_error
from diskimage_vhd.errors import UsageError
from diskimage_vhd.errors import VhdError
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.shapes import format_for
from diskimage_vhd.format.shapes import shape_of
from diskimage_vhd.format import sizing
from diskimage_vhd.image.chain import open_chain
from diskimage_vhd.image.reader import VhdImage
from diskimage_vhd.image.sources import RawSource
from diskimage_vhd.image.sources import Source
from diskimage_vhd.make.background import BackgroundSink
from diskimage_vhd.make.hashing import BackgroundDigest
from diskimage_vhd.make import identity
from diskimage_vhd.make.plan import DynamicPlan
from diskimage_vhd.make.plan import FlatPlan
from diskimage_vhd.make.plan import Plan
from diskimage_vhd.make.render import render
from diskimage_vhd.make.render import Rendering
from diskimage_vhd.make.resized import resized
from diskimage_vhd.make import sidecars as sidecar_files
from diskimage_vhd.make.sinks import ChecksumFileSink
from diskimage_vhd.make.sinks import FileSink
from diskimage_vhd.make.sinks import Hashes
from diskimage_vhd.make.survey import DataMap
from diskimage_vhd.make.survey import survey
from diskimage_vhd.make.survey import surveyed
from diskimage_vhd.make.target_size import target_size
from diskimage_vhd.posix.atomic import AtomicOutput
from diskimage_vhd.posix.atomic import commit_together
from diskimage_vhd.posix import guard

FORMATS = ('raw', 'fixed', 'dynamic')
ProgressCallback = Callable[[int, int], None]
Notify = Callable[[str], None]


@dataclasses.dataclass(frozen=True, slots=True)
class ConversionResult:
    """What was written; ``unique_id`` and ``timestamp`` are the footer's
    (None for raw output).
    """

    source: str
    destination: str
    source_format: str
    target_format: str
    virtual_size: int
    file_size: int
    allocated_blocks: int
    unique_id_bytes: bytes | None
    timestamp: int | None
    checksums: dict[str, str]  # of the output, by algorithm, if asked

    @property
    def unique_id(self) -> uuidlib.UUID | None:
        """The footer's UUID."""
        if self.unique_id_bytes is None:
            return None
        return uuidlib.UUID(bytes=self.unique_id_bytes)

    @classmethod
    def of(cls, source: str, destination: str, source_format: str,
           target_format: str, written: Rendering, stamp: identity.Stamp,
           checksums: dict[str, str]) -> ConversionResult:
        """The result of rendering ``written`` (stamped by ``stamp``)."""
        plan, footer = written.plan, written.footer
        return cls(source=source, destination=destination,
                   source_format=source_format, target_format=target_format,
                   virtual_size=plan.virtual_size, file_size=plan.file_size,
                   allocated_blocks=plan.allocated_blocks,
                   unique_id_bytes=footer.unique_id if footer else None,
                   timestamp=stamp.unix_time if footer else None,
                   checksums=checksums)


class EndingProgress:
    """The caller's progress callback, ended at its total when the job is.

    The writers report the bytes they read, and on a sparse disk they read
    only the data: left alone, the callback would stop short of the total.
    """

    def __init__(self, callback: ProgressCallback | None, total: int):
        self.callback = callback
        self.total = total
        self._last: int | None = None

    def __call__(self, done: int, total: int | None = None) -> None:
        if self.callback:
            self._last = done
            self.callback(done, self.total if total is None else total)

    def finish(self) -> None:
        """Report the total, once, if the last report fell short of it."""
        if self.callback and self._last != self.total:
            self(self.total)


def _open_source(path: str, declared: str | None,
                 size_rule: str = sizing.AUTO) -> tuple:
    """Open ``path`` as a Source, checking it is what the caller declared."""
    if declared == 'raw':
        return RawSource(path), 'raw'
    try:
        image = VhdImage(path, size_rule)
    except NotAVhdError:
        if declared in ('fixed', 'dynamic', 'vhd'):
            raise
        return RawSource(path), 'raw'
    actual = c.DISK_TYPE_NAMES[image.footer.disk_type]
    if declared not in (None, 'vhd', actual):
        image.close()
        raise VhdError(path, f'is a {actual} VHD, not {declared}')
    if actual == 'differencing':
        return open_chain(image), actual
    return image, actual


def resolve_format(target: str | None, target_format: str | None) -> str:
    """The format to write for ``target`` (``format/shapes.py``), as a
    usage error when the two disagree.
    """
    try:
        return format_for(target, target_format)
    except ValueError as error:
        raise UsageError(None, str(error)) from None


def open_input(path: str, source_format: str | None,
               target_format: str, size: int | None = None,
               target: str | None = None, notify: Notify | None = None,
               size_rule: str = sizing.AUTO) -> tuple[Source, str]:
    """Check the formats asked for, open ``path`` and refuse an empty disk;
    with ``size``, see it at that size (refusing to cut data); for
    ``target``, at the size its shape demands (added zeros, said).
    ``size_rule`` is how a VHD's size is read (format/sizing.py).
    """
    if target_format not in FORMATS:
        raise UsageError(None, f'unknown target format {target_format!r}')
    if source_format not in (None, 'vhd') + FORMATS:
        raise UsageError(None, f'unknown source format {source_format!r}')
    opened, actual = _open_source(path, source_format, size_rule)
    if opened.size == 0:
        opened.close()
        raise EmptyDiskError(path, 'is empty: there is no disk to convert')
    try:
        if size is not None:
            opened = resized(opened, size)
        opened = _shaped(opened, target, notify)
    except VhdError:
        opened.close()
        raise
    return opened, actual


def _shaped(opened: Source, target: str | None,
            notify: Notify | None) -> Source:
    """``opened`` at its size rounded up to ``target``'s unit (whole MiB
    for azure), the tail reading as zeros.
    """
    try:
        shape = shape_of(target)
    except ValueError as error:
        raise UsageError(None, str(error)) from None
    aligned = shape.size_for(opened.size)
    if aligned == opened.size:
        return opened
    if notify:
        notify(f'{opened.path}: {opened.size} bytes is not a whole number '
               f'of {shape.unit}, as {target} needs; the virtual size is '
               f'rounded up to {aligned} (the added tail reads as zeros)')
    return resized(opened, aligned)


def convert(source: str | os.PathLike, destination: str | os.PathLike,
            *, source_format: str | None = None,
            target_format: str | None = None, allocate_all: bool = False,
            max_size: int | None = None,
            timestamp: str | int | None = None,
            unique_id: uuidlib.UUID | None = None,
            progress: ProgressCallback | None = None,
            notify: Notify | None = None,
            checksums: Sequence[str] | str = (),
            size: int | None = None,
            target: str | None = None,
            size_rule: str = sizing.AUTO,
            checksum_files: sidecar_files.Sidecars | None = None,
            sync: bool = False) -> ConversionResult:
    """Convert ``source`` to ``destination`` as ``target_format``.

    The default turns a raw image into the XenServer flavour of dynamic VHD,
    holding only the blocks with data.  The destination appears only when
    complete, however the process ends; with ``sync`` it is also flushed
    to the disk before it appears, so a power cut cannot leave it
    incomplete either.  The source is never changed.  ``checksums`` (``'sha256'``,
    ``'md5'``) are computed while writing, not by reading the output again,
    and returned in ``ConversionResult.checksums``.  ``size`` (bytes) is
    the disk's size instead of the source's: larger adds zeros; smaller
    is refused if it would cut data.  ``target`` (``'azure'``) makes the
    disk that importer takes: for azure a fixed disk of whole MiB, its
    footer's current size exactly the virtual size; xenserver and rackspace
    take the default shape.  ``size_rule`` (``auto``, ``current-size``,
    ``geometry``) is how a VHD source's size is read.  ``checksum_files``
    (``{'sha256': [PATH, ...]}``) are written in the format of ``sha256sum``
    and renamed into place just before the image, under one lock.

    Every output is checked before a byte is written: none may be a
    symbolic link, the source, or another output (``posix.guard``).
    """
    source, destination = os.fspath(source), os.fspath(destination)
    target_format = resolve_format(target, target_format)
    if target_format not in FORMATS:
        raise UsageError(None, f'unknown target format {target_format!r}')
    if isinstance(checksums, str):
        checksums = (checksums,)
    checksums = sorted(set(checksums) | set(checksum_files or {}))
    stamp = identity.Stamp.resolve(timestamp, unique_id)
    guard.check_all([destination, *sidecar_files.paths(checksum_files)],
                    [source])
    opened, actual = open_input(source, source_format, target_format, size,
                                target, notify, size_rule)
    report = EndingProgress(progress, opened.size)
    try:
        try:
            with contextlib.ExitStack() as stack:
                output = stack.enter_context(
                    AtomicOutput(destination, notify, sync=sync))
                written, sums = _write(opened, output.fd, target_format,
                                       allocate_all, max_size, stamp, report,
                                       notify, checksums, sync)
                opened.check_unchanged()
                beside = sidecar_files.open_sidecars(
                    stack, checksum_files, sums, destination, notify, sync)
                commit_together([*beside, output])
        except OSError as error:
            raise os_error(destination, error) from None
    finally:
        opened.close()
    report.finish()
    return ConversionResult.of(source, destination, actual, target_format,
                               written, stamp, sums)


def target_plan(source: Source, target_format: str, max_size: int | None,
                notify: Notify | None = None) -> Plan:
    """The empty layout of the target (its blocks are found by ``survey``)."""
    size, entries = target_size(source, target_format, max_size)
    _note_padding(source, target_format, size, notify)
    if target_format == 'dynamic':
        return DynamicPlan(size, entries)
    return FlatPlan(size, footer=target_format == 'fixed')


class Footing:
    """The footer of one output, made once the data allows it.

    A UUID that follows the content (``SOURCE_DATE_EPOCH``) waits for the
    content digest, hashed on a worker thread (``hashing.py``) from the
    blocks it is given; otherwise the footer can be made at once.  No
    stamp (measuring) or a raw target: no footer.  Used as a context, so
    the worker stops whatever happens.
    """

    def __init__(self, stamp: identity.Stamp | None, target_format: str,
                 plan: Plan, source: Source):
        self.stamp = stamp if target_format != 'raw' else None
        self.disk_type = (c.DISK_TYPE_DYNAMIC if target_format == 'dynamic'
                          else c.DISK_TYPE_FIXED)
        self.size = plan.virtual_size
        self.hasher = None
        if self.stamp is not None and self.stamp.needs_digest:
            self.hasher = BackgroundDigest(
                identity.ContentDigest(self.size), source)

    def __enter__(self) -> Footing:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.hasher is not None:
            self.hasher.close()

    def stamp_early(self, rendering: Rendering
                    ) -> Callable[[], Footer | None] | None:
        """Stamp ``rendering`` now if its footer waits for nothing (None:
        done); else what stamps it once the content digest is made.
        """
        if self.hasher is not None:
            return self.footer
        rendering.stamp(self.footer())
        return None

    def footer(self) -> Footer | None:
        """The footer, once every block was given to the hasher."""
        if self.stamp is None:
            return None
        digest = self.hasher.finish() if self.hasher is not None else None
        return self.stamp.footer(self.disk_type, self.size, digest)


def planned(source: Source, target_format: str, allocate_all: bool,
            max_size: int | None, stamp: identity.Stamp | None,
            progress: Callable[[int], None] | None = None,
            notify: Notify | None = None) -> Rendering:
    """The target laid out and stamped before a byte is written, for the
    outputs that take it in file order (pipes, ``VhdFile``, ``measure``).

    The planning pass probes the data extents; a UUID derived from the
    content has the data hashed on the way.  With no ``stamp``
    (measuring), no footer and, where the layout does not follow the
    data, no pass at all.
    """
    plan = target_plan(source, target_format, max_size, notify)
    with Footing(stamp, target_format, plan, source) as footing:
        data = survey(source, plan, allocate_all=allocate_all,
                      mapped=stamp is not None, digest=footing.hasher,
                      progress=progress)
        return Rendering(plan, data, source.size, footing.footer())


def _note_padding(source: Source, target_format: str, size: int,
                  notify: Notify | None) -> None:
    """Say when the target is larger than the source: never silently."""
    if size == source.size or not notify:
        return
    if target_format == 'fixed':
        notify(f'{source.path}: {source.size} bytes is not a whole number '
               f'of sectors; padded with zeros to {size}')
    elif target_format == 'dynamic':
        notify(f'{source.path}: {source.size} bytes is not a whole number '
               f'of 2 MiB blocks; the virtual size is rounded up to {size} '
               '(the added tail reads as zeros)')


def _write(source: Source, fd: int, target_format: str, allocate_all: bool,
           max_size: int | None, stamp: identity.Stamp,
           report: Callable[[int], None], notify: Notify | None,
           checksums: Sequence[str], sync: bool
           ) -> tuple[Rendering, dict[str, str]]:
    """Plan the target, then render it into the new file ``fd``.

    Without checksums the data goes out as the planning pass finds it (a
    content digest, if the UUID follows the content, hashed beside the
    copy), the footer and metadata last; with them every byte goes in
    file order, hashed on its way, after the pass (which then makes the
    content digest).
    """
    plan = target_plan(source, target_format, max_size, notify)
    sink: FileSink = (ChecksumFileSink(fd, source, Hashes(checksums), sync)
                      if checksums else FileSink(fd, source, sync))
    data = DataMap()
    rendering = Rendering(plan, data, source.size)
    with Footing(stamp, target_format, plan, source) as footing, \
            BackgroundSink(sink) as background:
        early = footing.hasher if sink.in_order else None
        render(rendering, background, footing.stamp_early(rendering),
               progress=report,
               digest=None if early else footing.hasher,
               settled=surveyed(source, plan, data,
                                allocate_all=allocate_all, digest=early))
    return rendering, sink.hashes.hexdigests() if sink.hashes else {}
