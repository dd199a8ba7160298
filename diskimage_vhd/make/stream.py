"""Measuring a conversion, and writing it to a pipe in one forward pass.

The layout of the target follows from which blocks hold data, so it can be
known before the first byte is written: ``measure`` finds it (reading the
data extents, never the holes) and ``stream`` then writes the very bytes
``convert`` would write to a file, front to back.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import os
import uuid as uuidlib

from diskimage_vhd.errors import os_error
from diskimage_vhd.errors import VhdError
from diskimage_vhd.format import sizing
from diskimage_vhd.make.convert import ConversionResult
from diskimage_vhd.make.convert import EndingProgress
from diskimage_vhd.make.convert import Notify
from diskimage_vhd.make.convert import open_input
from diskimage_vhd.make.convert import planned
from diskimage_vhd.make.convert import ProgressCallback
from diskimage_vhd.make.convert import resolve_format
from diskimage_vhd.make import identity
from diskimage_vhd.make.plan import DynamicPlan
from diskimage_vhd.make.render import render
from diskimage_vhd.make.sinks import Hashes
from diskimage_vhd.make.sinks import STDOUT_NAME
from diskimage_vhd.make.sinks import StreamSink
from diskimage_vhd.posix.durable import flush_if_file


@dataclasses.dataclass
class Measurement:
    """What ``convert`` would write, found without writing it."""

    source: str
    source_format: str
    target_format: str
    virtual_size: int
    file_size: int
    allocated_blocks: int  # dynamic only; 0 otherwise
    blocks: int  # blocks of the virtual disk (dynamic only; 0 otherwise)


def measure(source: str | os.PathLike, *,
            source_format: str | None = None,
            target_format: str | None = None, allocate_all: bool = False,
            max_size: int | None = None,
            size: int | None = None,
            target: str | None = None,
            size_rule: str = sizing.AUTO) -> Measurement:
    """The exact size of the file ``convert`` would write, and its blocks.

    Costs finding the data: the data extents are probed (the first page
    of each piece), holes are not read; ``allocate_all`` reads nothing.
    """
    path = os.fspath(source)
    target_format = resolve_format(target, target_format)
    opened, actual = open_input(path, source_format, target_format, size,
                                target, size_rule=size_rule)
    try:
        plan = planned(opened, target_format, allocate_all, max_size,
                       None).plan
    finally:
        opened.close()
    dynamic = isinstance(plan, DynamicPlan)
    return Measurement(path, actual, target_format, plan.virtual_size,
                       plan.file_size, plan.allocated_blocks,
                       plan.blocks if dynamic else 0)


def stream(source: str | os.PathLike, fd: int, *,
           source_format: str | None = None,
           target_format: str | None = None, allocate_all: bool = False,
           max_size: int | None = None,
           timestamp: str | int | None = None,
           unique_id: uuidlib.UUID | None = None,
           progress: ProgressCallback | None = None,
           notify: Notify | None = None,
           checksums: Sequence[str] = (),
           name: str = STDOUT_NAME,
           size: int | None = None,
           target: str | None = None,
           size_rule: str = sizing.AUTO,
           sync: bool = False) -> ConversionResult:
    """Write the conversion of ``source`` to ``fd`` (a pipe, say), in order.

    Byte for byte what ``convert`` writes to a file given the same
    timestamp and UUID; its length is ``measure``'s.  Two passes over the
    source: the first finds the allocated blocks (and, for a UUID derived
    from the content, reads and hashes all the data), the second copies.
    A reader that goes away is an error naming ``name``; so is a source
    changed meanwhile (the stream is then not a consistent disk).
    With ``sync``, a ``fd`` that is a regular file is flushed at the end.
    """
    path = os.fspath(source)
    target_format = resolve_format(target, target_format)
    stamp = identity.Stamp.resolve(timestamp, unique_id)
    opened, actual = open_input(path, source_format, target_format, size,
                                target, notify, size_rule)
    try:
        sink = StreamSink(fd, opened, Hashes(checksums))
        report = EndingProgress(progress, opened.size)
        first, second = _passes(report if progress else None, opened.size,
                                stamp.needs_digest)
        rendering = planned(opened, target_format, allocate_all, max_size,
                            stamp, first, notify)
        plan = rendering.plan
        try:
            render(rendering, sink, progress=second)
            if sync:
                flush_if_file(fd)
        except BrokenPipeError:
            raise VhdError(name, 'the reader closed the pipe after '
                                 f'{sink.position} of {plan.file_size} '
                                 'bytes; the stream is incomplete') from None
        except OSError as error:
            raise os_error(name, error) from None
        try:
            opened.check_unchanged()
        except VhdError:
            raise VhdError(path, 'changed while being streamed; the stream '
                                 'is not a consistent disk') from None
    finally:
        opened.close()
    report.finish()
    return ConversionResult.of(path, name, actual, target_format, rendering,
                               stamp, sink.hashes.hexdigests())


def _passes(progress: ProgressCallback | None, total: int,
            reads_twice: bool) -> tuple:
    """Progress callbacks for the planning pass and the copying pass.

    When the first pass reads all the data (to hash it), each pass counts
    for half; otherwise the first is quick and only the copy is reported.
    """
    if progress is None:
        return None, None
    if not reads_twice:
        return None, lambda done: progress(done, total)
    return (lambda done: progress(min(done, total) // 2, total),
            lambda done: progress(total // 2 + min(done, total) // 2, total))
