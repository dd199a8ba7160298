"""The bytes of a planned output's regions that do not come from the source.

A plan (``plan.py``) describes the output as regions in file order, as
ocaml-vhd's stream of ``Copy | Sectors | Empty``: the source's data, and
the metadata, footers, bitmaps and zeros around it.  This turns the second
kind into bytes, once, for every writer: the file writer's last step
(``writer.finish_dynamic``), the front-to-back writer of streams and
checksummed files (``emit.py``), and ``VhdFile``'s reads of any range.
"""

from __future__ import annotations

from collections.abc import Iterator
import threading
from typing import TYPE_CHECKING

from diskimage_vhd.format.bitmap import FULL_BLOCK_BITMAP
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.make.plan import BITMAP
from diskimage_vhd.make.plan import FOOTER
from diskimage_vhd.make.plan import Region
from diskimage_vhd.make.plan import ZEROS

if TYPE_CHECKING:
    from diskimage_vhd.make.plan import Plan


class Rendering:
    """A plan and its footer (None for a raw target), as bytes."""

    def __init__(self, plan: Plan, footer: Footer | None):
        self.plan = plan
        self.footer = footer
        self.footer_bytes = footer.pack() if footer else b''
        self._metadata: bytes | None = None
        self._lock = threading.Lock()

    def metadata_chunks(self) -> Iterator[tuple[int, bytes]]:
        """``(offset, bytes)`` of the metadata region, a BAT chunk at a
        time, for writers that need not hold it all.
        """
        if self.footer is not None and hasattr(self.plan, 'metadata'):
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

    def placed(self) -> Iterator[tuple[int, bytes]]:
        """``(offset, bytes)`` of what a writer that lays each block out
        with its bitmap, and leaves zeros as holes, writes last: every
        footer (in the gaps and at the end), then the metadata.
        """
        for region in self.plan.regions():
            if region.kind == FOOTER:
                yield region.start, self.footer_bytes
        yield from self.metadata_chunks()
