"""The one renderer: a planned output as ``Sectors | Copied | Empty`` pieces.

A plan (``plan.py``) describes the output as regions in file order, and
the planning pass (``survey.py``) where the source's data is.  From those
two this walks the output, or any range of it, as ocaml-vhd's stream of
``Copy | Sectors | Empty``: bytes made from the plan and the footer
(metadata, footers, bitmaps), bytes copied from the source, and zeros.
Every output is that walk handed to a sink (``sinks.py``: a new file, a
file with checksums, a pipe; ``VhdFile``'s buffers): the sinks differ in
how they put a piece, never in which pieces there are.

A file is written data first and stamped last (``render``): where the
footer's UUID follows the content, its digest is then made beside the
copy.  The sinks that take bytes in file order need the footer first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from collections import namedtuple
import threading
from typing import Protocol

from diskimage_vhd.format.bitmap import FULL_BLOCK_BITMAP
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.make.blocks import OnProgress
from diskimage_vhd.make.hashing import BackgroundDigest
from diskimage_vhd.make.plan import BITMAP
from diskimage_vhd.make.plan import DATA
from diskimage_vhd.make.plan import DynamicPlan
from diskimage_vhd.make.plan import FOOTER
from diskimage_vhd.make.plan import METADATA
from diskimage_vhd.make.plan import Plan
from diskimage_vhd.make.plan import Region
from diskimage_vhd.make.plan import ZEROS
from diskimage_vhd.make.survey import DataMap


class Sectors(namedtuple('Sectors', 'offset data')):
    """Bytes made from the plan and the footer, at ``offset`` of the file."""

    __slots__ = ()
    offset: int
    data: bytes


class Copied(namedtuple('Copied', 'offset origin length')):
    """``length`` bytes of the source from ``origin`` (never across a
    block boundary of the virtual disk), at ``offset`` of the file.
    """

    __slots__ = ()
    offset: int
    origin: int
    length: int


class Empty(namedtuple('Empty', 'offset length')):
    """``length`` zeros at ``offset`` of the file."""

    __slots__ = ()
    offset: int
    length: int


Piece = Sectors | Copied | Empty


class Sink(Protocol):
    """Where a rendering's pieces go (``sinks.py``, ``VhdFile``)."""

    in_order: bool  # takes the pieces in file order, footer first

    def sectors(self, piece: Sectors) -> None: ...
    def copy(self, piece: Copied) -> None: ...
    def empty(self, piece: Empty) -> None: ...
    def close(self, file_size: int) -> None: ...


# The region kinds that need the footer, and those that do not.
STAMPED = frozenset((FOOTER, METADATA))
UNSTAMPED = frozenset((BITMAP, DATA, ZEROS))
EVERY_KIND = STAMPED | UNSTAMPED


class Rendering:
    """A plan, the map of the source's data (None: read it all, holes
    included) and the footer (None for a raw target, or until stamped).
    """

    def __init__(self, plan: Plan, data: DataMap | None, source_size: int,
                 footer: Footer | None = None):
        self.plan = plan
        self.data = data
        self.source_size = source_size
        self._metadata: bytes | None = None
        self._lock = threading.Lock()
        self.stamp(footer)

    def stamp(self, footer: Footer | None) -> None:
        """Set the footer, once it is known."""
        self.footer = footer
        self.footer_bytes = footer.pack() if footer else b''
        self._metadata = None

    def pieces(self, start: int = 0, end: int | None = None,
               kinds: frozenset[str] = EVERY_KIND) -> Iterator[Piece]:
        """The pieces of bytes ``[start, end)`` of the file, in order, of
        the regions of ``kinds``.
        """
        end = self.plan.file_size if end is None else min(
            end, self.plan.file_size)
        for region in self.plan.regions(start):
            if region.end <= start:
                continue
            if region.start >= end:
                break
            if region.kind not in kinds:
                continue
            lo, hi = max(region.start, start), min(region.end, end)
            if region.kind == DATA:
                yield from self._data(lo, region.origin + lo - region.start,
                                      hi - lo)
            elif region.kind == ZEROS:
                yield Empty(lo, hi - lo)
            elif region.kind == METADATA:
                yield from self._metadata_pieces(region, lo, hi)
            else:
                yield Sectors(lo, self.constant(region, lo, hi))

    def _data(self, offset: int, origin: int,
              length: int) -> Iterator[Piece]:
        """Virtual disk bytes ``[origin, origin + length)`` at ``offset``:
        copied where the source has data, zeros elsewhere (and past the
        source's end, the padding of a last partial block).
        """
        stop = origin + length
        inside = min(stop, self.source_size)
        if self.data is not None:
            spans: Iterator[tuple[int, int]] = self.data.spans(origin, inside)
        else:
            spans = iter([(origin, inside)] if inside > origin else [])
        position = origin
        for lo, hi in spans:
            if lo > position:
                yield Empty(offset + position - origin, lo - position)
            while lo < hi:
                cut = min(hi, (lo // c.BLOCK_SIZE + 1) * c.BLOCK_SIZE)
                yield Copied(offset + lo - origin, lo, cut - lo)
                lo = cut
            position = hi
        if position < stop:
            yield Empty(offset + position - origin, stop - position)

    def _metadata_pieces(self, region: Region, lo: int,
                         hi: int) -> Iterator[Piece]:
        """The metadata a BAT chunk at a time; a part of it (a reader's
        range) from the whole, made once.
        """
        if lo == region.start and hi == region.end:
            for offset, data in self.metadata_chunks():
                yield Sectors(offset, data)
        else:
            yield Sectors(lo, self.metadata()[lo:hi])

    def metadata_chunks(self) -> Iterator[tuple[int, bytes]]:
        """``(offset, bytes)`` of the metadata region, in order."""
        if self.footer is not None and isinstance(self.plan, DynamicPlan):
            yield from self.plan.metadata(self.footer)

    def metadata(self) -> bytes:
        """The whole metadata region, made once (a few MiB at most); shared
        by threads reading one ``VhdFile``.
        """
        with self._lock:
            if self._metadata is None:
                self._metadata = b''.join(
                    data for _, data in self.metadata_chunks())
            return self._metadata

    def constant(self, region: Region, lo: int, hi: int) -> bytes:
        """Bytes ``[lo, hi)`` of the file, inside a footer, bitmap or zeros
        region: what they hold depends on nothing but the plan.
        """
        start, stop = lo - region.start, hi - region.start
        if region.kind == FOOTER:
            return self.footer_bytes[start:stop]
        if region.kind == BITMAP:
            return FULL_BLOCK_BITMAP[start:stop]
        if region.kind == ZEROS:
            return bytes(hi - lo)
        raise ValueError(f'{region.kind} comes from the source or the '
                         'metadata, not from the plan alone')


def render(rendering: Rendering, sink: Sink,
           footer: Callable[[], Footer | None] | None = None, *,
           progress: OnProgress = None,
           digest: BackgroundDigest | None = None,
           settled: Iterable[int] = ()) -> None:
    """Every piece of ``rendering`` into ``sink``, then close it.

    ``settled`` is the planning pass still under way (``survey.surveyed``:
    offsets before which the output is settled), or nothing if it is done.
    ``footer()`` stamps the output once the pass is done (None:
    ``rendering`` is stamped already).  A sink in file order needs the
    whole plan and the footer first.  A file takes the data as the pass
    settles it (``digest``, if given, fed each block with data on the way,
    so its worker hashes beside the copy), with the footer's copies in the
    gaps if the footer is known already; what waits for the footer, then
    the metadata (the table of every block), comes last.  ``progress``
    hears the virtual offset copied.
    """
    if digest is not None and rendering.data is None:
        raise ValueError('a digest beside the copy needs the data map')
    if sink.in_order:
        for _ in settled:
            pass
        if footer is not None:
            rendering.stamp(footer())
        put(rendering, rendering.pieces(), sink, progress, digest)
    else:
        first = UNSTAMPED if footer is not None else UNSTAMPED | {FOOTER}
        done = 0
        for offset in settled:
            if offset > done:
                put(rendering, rendering.pieces(done, offset, first),
                    sink, progress, digest)
                done = offset
        put(rendering, rendering.pieces(done, kinds=first), sink,
            progress, digest)
        if footer is not None:
            rendering.stamp(footer())
        put(rendering, rendering.pieces(kinds=EVERY_KIND - first), sink)
    sink.close(rendering.plan.file_size)


def put(rendering: Rendering, pieces: Iterator[Piece], sink: Sink,
        progress: OnProgress = None,
        digest: BackgroundDigest | None = None) -> None:
    """Hand each of ``pieces`` (of ``rendering``) to ``sink``'s method for
    its kind; ``digest``, if given, each block with data as it is copied.
    """
    fed = -1
    for piece in pieces:
        kind = type(piece)
        if kind is Copied:
            if digest is not None and piece.origin // c.BLOCK_SIZE != fed:
                fed = piece.origin // c.BLOCK_SIZE
                digest.add(rendering.data.block(fed))
            sink.copy(piece)
            if progress:
                progress(piece.origin + piece.length)
        elif kind is Empty:
            sink.empty(piece)
        else:
            sink.sectors(piece)
