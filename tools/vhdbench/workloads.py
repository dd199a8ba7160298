"""Seeded raw images that look like what the converters meet in real life.

Layouts come from a seeded ``random.Random``; the bytes come from one seeded
pool sliced at random offsets, because generating 1.5 GiB of fresh
pseudo-random bytes in Python takes ten seconds while the pool takes 0.2.
"""

from __future__ import annotations

import dataclasses
import os
import random
from typing import Callable, Dict, List, Tuple

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB
PAGE = 4 * KiB
POOL_SIZE = 32 * MiB
CHUNK = 8 * MiB


@dataclasses.dataclass
class Workload:
    """A generated raw image and what is in it, for the table's legend."""

    key: str
    name: str
    path: str
    virtual_size: int
    data_bytes: int
    extents: int
    zero_bytes: int = 0

    def describe(self, key: str = '') -> str:
        text = (f'{key or self.key}) {self.name}: '
                f'{_size(self.virtual_size)} virtual, '
                f'{_size(self.data_bytes)} of random data')
        if self.extents > 1:
            text += f' in {self.extents} extents'
        if self.zero_bytes:
            text += f', {_size(self.zero_bytes)} of written zeros'
        return text


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How big each workload is; ``--quick`` uses small ones."""

    dib_virtual: int
    dib_data: int
    dib_max_extent: int
    dib_zero_regions: int
    dib_max_zero: int
    dense: int
    empty: int
    zeros: int
    extents: int
    extents_virtual: int


FULL = Sizes(8 * GiB, 1536 * MiB, 8 * MiB, 4, 8 * MiB, 1 * GiB, 1 * TiB,
             2 * GiB, 100_000, 64 * GiB)
QUICK = Sizes(256 * MiB, 48 * MiB, 1 * MiB, 2, 1 * MiB, 32 * MiB, 16 * GiB,
              32 * MiB, 1000, 1 * GiB)


def _size(n: int) -> str:
    for unit, scale in (('TiB', TiB), ('GiB', GiB), ('MiB', MiB), ('KiB', KiB)):
        if n >= scale:
            return f'{n / scale:.4g} {unit}'
    return f'{n} B'


class Pool:
    """Seeded incompressible bytes, handed out as slices at random offsets."""

    def __init__(self, rng: random.Random, size: int = POOL_SIZE):
        self.rng = rng
        self.data = memoryview(b''.join(rng.randbytes(MiB)
                                        for _ in range(size // MiB)))

    def write(self, fd: int, offset: int, length: int) -> None:
        """Fill ``[offset, offset + length)`` with pool bytes."""
        while length:
            n = min(length, CHUNK, len(self.data) - PAGE)
            start = self.rng.randrange(0, len(self.data) - n + 1, 512)
            done = os.pwrite(fd, self.data[start:start + n], offset)
            offset += done
            length -= done


def _dib_pieces(rng: random.Random, sizes: Sizes) -> List[Tuple[int, bool]]:
    """Extent lengths from 4 KiB to ``dib_max_extent``, and a few zero runs.

    The exponent is drawn leaning towards large extents, so 1.5 GiB comes in
    several hundred extents (a real DIB image: 0.88 GB in 557) with about one
    in eight smaller than 64 KiB.
    """
    top = (sizes.dib_max_extent // PAGE).bit_length() - 1
    pieces: List[Tuple[int, bool]] = []
    total = 0
    while total < sizes.dib_data:
        length = PAGE * round(2 ** rng.triangular(0, top, top))
        length = min(length, sizes.dib_data - total)
        pieces.append((length, False))
        total += length
    for _ in range(sizes.dib_zero_regions):
        pieces.append((PAGE * rng.randint(64, sizes.dib_max_zero // PAGE), True))
    rng.shuffle(pieces)
    # An image starts with its partition table and boot loader.
    first = next(i for i, (_, zero) in enumerate(pieces) if not zero)
    pieces.insert(0, pieces.pop(first))
    return pieces


def make_dib(path: str, sizes: Sizes, seed: int) -> Workload:
    """Hundreds of extents of mixed sizes with holes between, some zeros."""
    rng = random.Random(seed)
    pieces = _dib_pieces(rng, sizes)
    free = sizes.dib_virtual - sum(length for length, _ in pieces)
    weights = [rng.expovariate(1.0) for _ in pieces[1:]]
    scale = (free // PAGE - len(weights)) / sum(weights)
    gaps = [0] + [PAGE * (1 + int(w * scale)) for w in weights]
    pool = Pool(rng)
    data = zeros = 0
    offset = 0
    with _create(path, sizes.dib_virtual) as fd:
        for gap, (length, zero) in zip(gaps, pieces):
            offset += gap
            if zero:
                _write_zeros(fd, offset, length)
                zeros += length
            else:
                pool.write(fd, offset, length)
                data += length
            offset += length
    assert offset <= sizes.dib_virtual
    return Workload('a', 'DIB-like', path, sizes.dib_virtual, data,
                    sum(1 for _, zero in pieces if not zero), zeros)


def make_dense(path: str, sizes: Sizes, seed: int) -> Workload:
    """Random data from the first byte to the last: nothing to skip."""
    pool = Pool(random.Random(seed))
    with _create(path, sizes.dense) as fd:
        pool.write(fd, 0, sizes.dense)
    return Workload('b', 'dense', path, sizes.dense, sizes.dense, 1)


def make_empty(path: str, sizes: Sizes, seed: int) -> Workload:
    """All hole: only metadata should be written, and fast."""
    with _create(path, sizes.empty):
        pass
    return Workload('c', 'empty', path, sizes.empty, 0, 0)


def make_zeros(path: str, sizes: Sizes, seed: int) -> Workload:
    """Zeros written to every byte: allocated on disk, yet nothing to store."""
    with _create(path, sizes.zeros) as fd:
        _write_zeros(fd, 0, sizes.zeros)
    return Workload('z', 'written zeros', path, sizes.zeros, 0, 0, sizes.zeros)


def make_extents(path: str, sizes: Sizes, seed: int) -> Workload:
    """One data page in each of ``extents`` equal slots: many tiny extents.

    The page is never a slot's first or last, so no two extents touch and
    the file system keeps them apart; most 2 MiB blocks get a few of them.
    """
    rng = random.Random(seed)
    pool = Pool(rng)
    slot = sizes.extents_virtual // sizes.extents // PAGE * PAGE
    assert slot >= 3 * PAGE
    with _create(path, sizes.extents_virtual) as fd:
        for index in range(sizes.extents):
            page = rng.randrange(1, slot // PAGE - 1)
            pool.write(fd, index * slot + page * PAGE, PAGE)
    return Workload('e', 'small extents', path, sizes.extents_virtual,
                    sizes.extents * PAGE, sizes.extents)


def _write_zeros(fd: int, offset: int, length: int) -> None:
    zeros = bytes(min(length, CHUNK))
    while length:
        done = os.pwrite(fd, zeros[:length], offset)
        offset += done
        length -= done


class _create:
    """A new file of ``size`` bytes, all hole, as a context-managed fd."""

    def __init__(self, path: str, size: int):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.ftruncate(self.fd, size)

    def __enter__(self) -> int:
        return self.fd

    def __exit__(self, *exc_info: object) -> None:
        os.close(self.fd)


MAKERS: Dict[str, Callable[[str, Sizes, int], Workload]] = {
    'a': make_dib, 'b': make_dense, 'c': make_empty, 'z': make_zeros,
    'e': make_extents,
}
