"""The content digest on the second core, beside the copy.

A reproducible build's UUID follows every byte of content (``identity.
ContentDigest``), and the hash costs about what the copy it follows costs.
Hashed in line, each block waits for its hash; hashed here, in a worker
thread (``blake3`` lets go of the GIL for large buffers), the copy goes on
in the kernel (``copy_file_range``) while the worker reads the same bytes
back from the page cache and hashes them.  The digest is the same, block for
block and byte for byte: only where it is computed changes.
"""

from __future__ import annotations

from diskimage_vhd.format import constants as c
from diskimage_vhd.image.sources import Source
from diskimage_vhd.make.blocks import Block
from diskimage_vhd.make.blocks import BlockReader
from diskimage_vhd.make.blocks import Data
from diskimage_vhd.make.blocks import Piece
from diskimage_vhd.make.identity import ContentDigest
from diskimage_vhd.make.worker import Worker

# Blocks queued ahead of the worker: enough to ride out a slow write, few
# enough that the pieces held in memory (only ``Data`` ones are) stay small.
AHEAD = 4


class BackgroundDigest:
    """Feed a ``ContentDigest`` from a worker thread, in block order.

    Blocks may come from a reader with ``need_data`` False: the worker reads
    each ``Copy`` piece itself, through its own buffer.  ``Data`` pieces
    are copied before queueing (the reader's buffer moves on).  ``finish``
    waits for the last block and re-raises what the worker met.
    """

    def __init__(self, digest: ContentDigest, source: Source):
        self._digest = digest
        self._reader = BlockReader(source, c.BLOCK_SIZE)
        self._worker: Worker[Block] = Worker(self._hash, 'content-digest',
                                             AHEAD)

    def add(self, block: Block) -> None:
        """Queue one block; zero blocks count for nothing and are dropped."""
        if block.is_zero:
            return
        pieces: list[Piece] = [
            Data(p.start, p.end, memoryview(bytes(p.data)))
            if type(p) is Data else p for p in block.pieces]
        self._worker.put(Block(block.index, pieces))

    def finish(self) -> bytes:
        """The digest, once every queued block is hashed."""
        self._worker.finish()
        return self._digest.digest()

    def close(self) -> None:
        """Stop the worker without the digest (the conversion failed)."""
        self._worker.stop()

    def _hash(self, block: Block) -> None:
        self._digest.add(block, self._reader.gather(block))
