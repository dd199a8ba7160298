"""Where a rendering's pieces go: a new file, a file with checksums, a pipe.

``render.py`` walks the output once, as ``Sectors | Copied | Empty``
pieces; a sink only puts each piece where it belongs.  A new file takes
them by offset, copies in the kernel and leaves zeros as holes, so it can
be stamped last.  Checksums and pipes take every byte in file order: the
checksums are computed on the bytes as they are written, never by reading
the output back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
import hashlib
import os

from diskimage_vhd.errors import UsageError
from diskimage_vhd.format import constants as c
from diskimage_vhd.image.sources import Source
from diskimage_vhd.make.blocks import BlockReader
from diskimage_vhd.make.blocks import Copy
from diskimage_vhd.make.render import Copied
from diskimage_vhd.make.render import Empty
from diskimage_vhd.make.render import Sectors
from diskimage_vhd.posix.guard import STDOUT_NAME  # noqa: F401 (re-export)
from diskimage_vhd.posix.io import write_all
from diskimage_vhd.posix.reserve import Reserve
from diskimage_vhd.posix.writeback import Writeback

ZERO_CHUNK = bytes(256 * 1024)
CHECKSUMS = ('md5', 'sha256')


def zero_chunks(length: int) -> Iterator[bytes]:
    """``length`` zeros, a ``ZERO_CHUNK`` at a time."""
    for start in range(0, length, len(ZERO_CHUNK)):
        yield ZERO_CHUNK[:min(len(ZERO_CHUNK), length - start)]


class Hashes:
    """Checksums of the output, fed in order as it is written."""

    def __init__(self, algorithms: Sequence[str] | str = ()):
        if isinstance(algorithms, str):  # checksums='md5': one, not letters
            algorithms = (algorithms,)
        unknown = sorted(set(algorithms) - set(CHECKSUMS))
        if unknown:
            raise UsageError(None, f'unknown checksum {unknown[0]!r}; '
                                   f'one of {", ".join(CHECKSUMS)}')
        self.objects = {name: hashlib.new(name) for name in algorithms}

    def update(self, data: bytes | memoryview) -> None:
        for digest in self.objects.values():
            digest.update(data)

    def zeros(self, length: int) -> None:
        if not self.objects:
            return
        for chunk in zero_chunks(length):
            self.update(chunk)

    def hexdigests(self) -> dict[str, str]:
        return {name: digest.hexdigest()
                for name, digest in self.objects.items()}


def _source_piece(piece: Copied) -> tuple[int, Copy]:
    """A ``Copied`` piece as the reader names it: block and range in it."""
    index, within = divmod(piece.origin, c.BLOCK_SIZE)
    return index, Copy(within, within + piece.length)


class FileSink:
    """A new, empty file: pieces placed by offset, copies made in the
    kernel where it can, zeros left as holes (a new file reads as zeros).

    With ``sync``, the write-out starts as the data goes (``Writeback``),
    so the closing ``fsync`` has little left.
    """

    in_order = False
    hashes: Hashes | None = None

    def __init__(self, fd: int, source: Source | None = None,
                 sync: bool = False):
        self.fd = fd
        self.source = source
        self.reader = (BlockReader(source, c.BLOCK_SIZE)
                       if source is not None else None)
        self.writeback = Writeback(fd, sync)
        self.space = Reserve(fd)

    def sectors(self, piece: Sectors) -> None:
        """A few sectors between the copies (bitmaps, footer copies), or
        the metadata at the end: left to the write-out of the copies around
        them, or to the flush.
        """
        write_all(self.fd, piece.data, piece.offset)

    def copy(self, piece: Copied) -> None:
        """Into a range reserved first (``posix/reserve.py``), in the kernel
        where the source can (``copy_file_range``); what that left, through
        the reader's buffer.
        """
        self.space.reserve(piece.offset, piece.length)
        done = self.source.copy_range(self.fd, piece.origin, piece.length,
                                      piece.offset)
        if done < piece.length:
            index, copy = _source_piece(piece)
            for position, data in self.reader.chunks(index, copy, done):
                write_all(self.fd, data, piece.offset + position)
        self.writeback.wrote(piece.offset, piece.length)

    def empty(self, piece: Empty) -> None:
        """Nothing to write: the hole reads as zeros."""

    def close(self, file_size: int) -> None:
        os.ftruncate(self.fd, file_size)
        self.writeback.push()


class ChecksumFileSink(FileSink):
    """A new file written in order, every byte hashed on its way out; zeros
    are hashed but still left as holes.
    """

    in_order = True

    def __init__(self, fd: int, source: Source, hashes: Hashes,
                 sync: bool = False):
        super().__init__(fd, source, sync)
        self.hashes = hashes

    def sectors(self, piece: Sectors) -> None:
        self.hashes.update(piece.data)
        super().sectors(piece)

    def copy(self, piece: Copied) -> None:
        index, copy = _source_piece(piece)
        for position, data in self.reader.chunks(index, copy):
            self.hashes.update(data)
            write_all(self.fd, data, piece.offset + position)
        self.writeback.wrote(piece.offset, piece.length)

    def empty(self, piece: Empty) -> None:
        self.hashes.zeros(piece.length)


class StreamSink:
    """A pipe, socket or file, written in order, zeros included."""

    in_order = True

    def __init__(self, fd: int, source: Source, hashes: Hashes | None = None):
        self.fd = fd
        self.reader = BlockReader(source, c.BLOCK_SIZE)
        self.hashes = hashes or Hashes()
        self.position = 0

    def sectors(self, piece: Sectors) -> None:
        self._write(piece.data)

    def copy(self, piece: Copied) -> None:
        index, copy = _source_piece(piece)
        for _, data in self.reader.chunks(index, copy):
            self._write(data)

    def empty(self, piece: Empty) -> None:
        for chunk in zero_chunks(piece.length):
            self._write(chunk)

    def close(self, file_size: int) -> None:
        """Nothing to finish: every byte went out."""

    def _write(self, data: bytes | memoryview) -> None:
        self.hashes.update(data)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self.position += len(data)
