"""A VHD presented as a read-only, seekable file, made on demand.

For uploaders: the bytes ``convert`` would write, generated for whatever
range is asked (so parallel segments can be sent), without the VHD being
written anywhere.  Opening it costs ``measure``'s pass (or, for a UUID
derived from the content, one read of the data); every read after that
costs the source bytes it covers.
"""

from __future__ import annotations

import io
import os
import uuid as uuidlib

from diskimage_vhd.errors import VhdError
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.image.sources import Source
from diskimage_vhd.make.convert import open_input
from diskimage_vhd.make.convert import planned
from diskimage_vhd.make.convert import resolve_format
from diskimage_vhd.make import identity
from diskimage_vhd.make.render import Copied
from diskimage_vhd.make.render import Empty
from diskimage_vhd.make.render import put
from diskimage_vhd.make.render import Rendering
from diskimage_vhd.make.render import Sectors


class _Image:
    """What every view of one VHD shares: the source and the rendering."""

    def __init__(self, source: Source, rendering: Rendering):
        self.source = source
        self.rendering = rendering
        self.plan = rendering.plan
        self.footer = rendering.footer
        self.views = 0

    def read_at(self, offset: int, view: memoryview) -> int:
        """Fill ``view`` from ``offset`` of the VHD; bytes filled (short at
        the end).  Positional, so threads may share one ``_Image``.
        """
        end = min(offset + len(view), self.plan.file_size)
        if offset >= end:
            return 0
        put(self.rendering, self.rendering.pieces(offset, end),
            _ViewSink(self.source, view, offset))
        return end - offset


class _ViewSink:
    """A caller's buffer over ``[base, base + len(view))`` of the VHD:
    the rendering's pieces of that range, read or made into it.
    """

    in_order = True

    def __init__(self, source: Source, view: memoryview, base: int):
        self.source = source
        self.view = view
        self.base = base

    def sectors(self, piece: Sectors) -> None:
        start = piece.offset - self.base
        self.view[start:start + len(piece.data)] = piece.data

    def copy(self, piece: Copied) -> None:
        start = piece.offset - self.base
        self.source.read_into(piece.origin,
                              self.view[start:start + piece.length])

    def empty(self, piece: Empty) -> None:
        start = piece.offset - self.base
        self.view[start:start + piece.length] = bytes(piece.length)


class VhdFile(io.RawIOBase):
    """The VHD of a source as a read-only binary file of known length.

    ``len(f)`` (or ``f.size``) is the exact length; ``seek``, ``read``,
    ``readinto`` behave as on a file; ``segment(start, length)`` gives an
    independent file over a part of it (sharing the source and the plan)
    for parallel uploads.  The source must not change while in use: reading
    to the end checks it did not.
    """

    def __init__(self, source: str | os.PathLike, *,
                 source_format: str | None = None,
                 target_format: str | None = None, allocate_all: bool = False,
                 max_size: int | None = None,
                 timestamp: str | int | None = None,
                 unique_id: uuidlib.UUID | None = None,
                 target: str | None = None,
                 _image: _Image | None = None, _start: int = 0,
                 _length: int | None = None):
        super().__init__()
        if _image is None:
            target_format = resolve_format(target, target_format)
            stamp = identity.Stamp.resolve(timestamp, unique_id)
            opened, _ = open_input(os.fspath(source), source_format,
                                   target_format, target=target)
            try:
                rendering = planned(opened, target_format, allocate_all,
                                    max_size, stamp)
            except BaseException:
                opened.close()
                raise
            _image = _Image(opened, rendering)
        self._image = _image
        self._image.views += 1
        self._start = _start
        self.size = (_image.plan.file_size - _start if _length is None
                     else _length)
        self._position = 0

    @property
    def footer(self) -> Footer | None:
        """The footer (UUID, timestamp) of the VHD; None for a raw target."""
        return self._image.footer

    def __len__(self) -> int:
        return self.size

    def segment(self, start: int, length: int) -> VhdFile:
        """An independent file over ``[start, start + length)`` of this one."""
        self._check_open()
        if start < 0 or length < 0 or start + length > self.size:
            raise ValueError('segment outside the file')
        return VhdFile('', _image=self._image, _start=self._start + start,
                       _length=length)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        bases = {io.SEEK_SET: 0, io.SEEK_CUR: self._position,
                 io.SEEK_END: self.size}
        if whence not in bases:  # as io's own files say it
            raise ValueError(f'invalid whence ({whence}, should be '
                             f'{io.SEEK_SET}, {io.SEEK_CUR} or {io.SEEK_END})')
        base = bases[whence]
        if base + offset < 0:
            raise ValueError('negative seek position')
        self._position = base + offset
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:
        self._check_open()
        view = memoryview(buffer).cast('B')
        length = max(0, min(len(view), self.size - self._position))
        done = self._image.read_at(self._start + self._position,
                                   view[:length])
        self._position += done
        if done and self._start + self._position == \
                self._image.plan.file_size:
            self._verify()
        return done

    def _verify(self) -> None:
        try:
            self._image.source.check_unchanged()
        except VhdError:
            raise VhdError(self._image.source.path, 'changed while being '
                           'read; the VHD is not a consistent disk') from None

    def close(self) -> None:
        if not self.closed:
            self._image.views -= 1
            if self._image.views == 0:
                self._image.source.close()
        super().close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError('I/O operation on closed file')
