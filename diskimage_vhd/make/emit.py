"""Writing a planned disk front to back: to a pipe, or to a file while hashing.

Where the file writer (``writer.py``) discovers the layout as it goes and
writes the metadata last, this writes every byte in file order, so the
output can be a pipe and checksums can be computed on the way.  It needs
the plan first: ``plan_blocks`` finds which blocks hold data (reading the
data extents, never the holes) and, for a reproducible UUID, hashes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
import os
from typing import TYPE_CHECKING

from diskimage_vhd.errors import UsageError
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.make.blocks import Block
from diskimage_vhd.make.blocks import BlockReader
from diskimage_vhd.make.blocks import Data
from diskimage_vhd.make.identity import ContentDigest
from diskimage_vhd.make.plan import DATA
from diskimage_vhd.make.plan import DynamicPlan
from diskimage_vhd.make.plan import FlatPlan
from diskimage_vhd.make.plan import METADATA
from diskimage_vhd.make.plan import ZEROS
from diskimage_vhd.make.render import Rendering
from diskimage_vhd.posix.guard import STDOUT_NAME  # noqa: F401 (re-export)
from diskimage_vhd.posix.writeback import Writeback

if TYPE_CHECKING:
    from diskimage_vhd.image.sources import Source
    from diskimage_vhd.make.blocks import OnProgress
    from diskimage_vhd.make.plan import Plan

ZERO_CHUNK = bytes(256 * 1024)
CHECKSUMS = ('md5', 'sha256')


class Hashes:
    """Checksums of the output, fed in order as it is written."""

    def __init__(self, algorithms: Sequence[str] | str = ()):
        if isinstance(algorithms, str):  # checksums='md5': one, not letters
            algorithms = (algorithms,)
        unknown = sorted(set(algorithms) - set(CHECKSUMS))
        if unknown:
            raise UsageError(None, f'unknown checksum {unknown[0]!r}; '
                                   f'one of {", ".join(CHECKSUMS)}')
        import hashlib  # here, not at start-up: only checksums need it
        self.objects = {name: hashlib.new(name) for name in algorithms}

    def update(self, data: bytes) -> None:
        for digest in self.objects.values():
            digest.update(data)

    def zeros(self, length: int) -> None:
        if not self.objects:
            return
        for start in range(0, length, len(ZERO_CHUNK)):
            self.update(ZERO_CHUNK[:min(len(ZERO_CHUNK), length - start)])

    def hexdigests(self) -> dict[str, str]:
        return {name: digest.hexdigest()
                for name, digest in self.objects.items()}


class StreamSink:
    """Bytes out to a pipe, socket or file, in order, zeros included."""

    def __init__(self, fd: int, hashes: Hashes | None = None):
        self.fd = fd
        self.hashes = hashes or Hashes()
        self.position = 0

    def write(self, data: bytes) -> None:
        self.hashes.update(data)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self.position += len(data)

    def zeros(self, length: int) -> None:
        for start in range(0, length, len(ZERO_CHUNK)):
            self.write(ZERO_CHUNK[:min(len(ZERO_CHUNK), length - start)])

    def close(self) -> None:
        """Nothing to finish: every byte went out."""


class FileSink(StreamSink):
    """Into a new, empty file: zeros are hashed but left as holes.

    With ``sync``, the write-out starts as the file grows (``Writeback``),
    as the file writer's does, so the closing ``fsync`` has little left.
    """

    def __init__(self, fd: int, hashes: Hashes | None = None,
                 sync: bool = False):
        super().__init__(fd, hashes)
        self.writeback = Writeback(fd, sync)

    def write(self, data: bytes) -> None:
        self.hashes.update(data)
        view = memoryview(data)
        start = self.position
        while view:
            written = os.pwrite(self.fd, view, self.position)
            view = view[written:]
            self.position += written
        self.writeback.wrote(start, self.position - start)

    def zeros(self, length: int) -> None:
        self.hashes.zeros(length)
        self.position += length

    def close(self) -> None:
        os.ftruncate(self.fd, self.position)
        self.writeback.push()


def plan_blocks(source: Source, plan: Plan, *, allocate_all: bool = False,
                digest: ContentDigest | None = None,
                progress: OnProgress = None) -> Plan:
    """Fill ``plan`` with the blocks that hold data, hashing them if asked.

    Only the data extents are read, and with no digest only the first page
    of each piece that is not zero: the cost of finding the data.  A fully
    allocated disk without a digest reads nothing.
    """
    if isinstance(plan, DynamicPlan) and allocate_all and digest is None:
        for index in range(plan.blocks):
            plan.add(index)
        return plan
    if isinstance(plan, FlatPlan) and digest is None:
        return plan
    reader = BlockReader(source, c.BLOCK_SIZE, progress,
                         need_data=digest is not None)
    dynamic = isinstance(plan, DynamicPlan)
    stream = (reader.all_blocks(plan.blocks) if dynamic and allocate_all
              else reader.data_blocks())
    for block in stream:
        if digest is not None:
            digest.add(block)
        if dynamic and (allocate_all or not block.is_zero):
            plan.add(block.index)
    return plan


class Emitter:
    """Write a plan's regions in order, the data read from the source."""

    def __init__(self, plan: Plan, footer: Footer | None, source: Source,
                 sink: StreamSink, progress: OnProgress = None):
        self.plan = plan
        self.footer = footer
        self.sink = sink
        reader = BlockReader(source, c.BLOCK_SIZE, progress, need_data=True)
        self._blocks: Iterator[Block] = reader.data_blocks()
        self._next: Block | None = next(self._blocks, None)

    def run(self) -> None:
        rendering = Rendering(self.plan, self.footer)
        for region in self.plan.regions():
            if region.kind == DATA:
                self._data(region.origin, region.end - region.start)
            elif region.kind == ZEROS:
                self.sink.zeros(region.end - region.start)
            elif region.kind == METADATA:
                for _, data in rendering.metadata_chunks():
                    self.sink.write(data)
            else:
                self.sink.write(rendering.constant(region, region.start,
                                                   region.end))
        self.sink.close()

    def _block(self, index: int) -> Block | None:
        """The block ``index`` if it has data extents; skip those before it."""
        while self._next is not None and self._next.index < index:
            self._next = next(self._blocks, None)
        if self._next is not None and self._next.index == index:
            return self._next
        return None

    def _data(self, origin: int, length: int) -> None:
        """Virtual bytes ``[origin, origin + length)``, block-aligned origin."""
        for start in range(origin, origin + length, c.BLOCK_SIZE):
            limit = min(c.BLOCK_SIZE, origin + length - start)
            block = self._block(start // c.BLOCK_SIZE)
            if block is None:
                self.sink.zeros(limit)
                continue
            for piece in block.pieces:
                if piece.start >= limit:
                    break
                stop = min(piece.end, limit)
                if isinstance(piece, Data):
                    self.sink.write(piece.data[:stop - piece.start])
                else:
                    self.sink.zeros(stop - piece.start)


def emit(plan: Plan, footer: Footer | None, source: Source,
         sink: StreamSink, progress: OnProgress = None) -> tuple[int, dict]:
    """Write the whole disk to ``sink``; its length and checksums."""
    Emitter(plan, footer, source, sink, progress).run()
    return sink.position, sink.hashes.hexdigests()
