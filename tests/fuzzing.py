"""Structure-aware mutation fuzzing of everything that parses a VHD.

Valid fixed and dynamic disks (the golden fixtures and small generated ones)
are mutated where a hostile or corrupt file differs from a good one: bit
flips in the footer, header, BAT, batmap and sector bitmaps; truncation at
every structure boundary; extreme field values.  Every mutant is fed to the
reader, the summary, the checker and the commands' entry points, and each
must answer with a result or one of the package's own errors, quickly and
in little memory.

A case is fully determined by ``(seed, index)``, so any finding can be
replayed with ``python -m tests.fuzzing --seed S --replay INDEX``.  The suite
runs a campaign in a child process (``tests/unit/test_fuzz.py``) so that an
address-space limit turns a runaway allocation into a finding, not a dead
machine; ``tools/fuzz.py`` runs long local campaigns (and atheris).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import io
import json
import os
import random
import resource
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
import uuid
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from diskimage_vhd.errors import VhdError
from diskimage_vhd.format.batmap import batmap_checksum
from diskimage_vhd.format.batmap import BatmapHeader
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from tests import fuzz_hostile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES_DIR = os.environ.get(
    'DISKIMAGE_VHD_FIXTURES',
    os.path.join(REPO_ROOT, 'tests', 'fixtures', 'libvhd'))
FIXTURE_SEEDS = ('mixed.sparse.vhd', 'mixed.full.vhd', 'mixed.prealloc.vhd',
                 'mixed.fixed.vhd', 'empty-100m.vhd', 'empty-100m-S2048.vhd')

# A call slower than this is a finding (a hang or a quadratic loop); the
# alarm that aborts a hung call fires a little later.
CALL_SECONDS = 5.0
ALARM_SECONDS = 20.0
# The campaign runs under this address-space limit: a header claiming 2^32
# BAT entries must not make anything allocate 16 GiB.
ADDRESS_SPACE_LIMIT = 1536 * 1024 * 1024
# Reads made of each successfully opened disk (bytes per read, reads).
READ_LENGTH = 8192
READ_EXTENTS = 8
# Exit statuses a command may end with: no Python traceback's 1 from an
# uncaught exception is told apart by the absence of "Traceback" instead.
TIMEOUT_STATUS = 'timeout'

Patch = Tuple[int, bytes]


# -- seeds -------------------------------------------------------------------


@dataclasses.dataclass
class Region:
    """A named structure of a seed disk, ``[start, end)`` in bytes."""

    name: str
    start: int
    end: int


@dataclasses.dataclass
class SeedDisk:
    """A valid disk and where each of its structures lies."""

    name: str
    data: bytes
    regions: List[Region]
    dynamic: bool
    entries: int = 0
    table_offset: int = 0
    block_size: int = 0
    allocated: List[int] = dataclasses.field(default_factory=list)

    def region(self, name: str) -> Optional[Region]:
        for region in self.regions:
            if region.name == name:
                return region
        return None

    def boundaries(self) -> List[int]:
        """Every offset where a structure starts or ends."""
        points = {0, len(self.data)}
        for region in self.regions:
            points.update((region.start, region.end))
        return sorted(p for p in points if 0 <= p <= len(self.data))


def _sectors(size: int) -> int:
    return -(-size // c.SECTOR_SIZE)


def bitmap_span(block_size: int) -> int:
    """Bytes of a block's sector bitmap, whole sectors."""
    return max(1, _sectors(-(-(block_size // c.SECTOR_SIZE) // 8))) \
        * c.SECTOR_SIZE


def describe(name: str, data: bytes) -> SeedDisk:
    """Map the structures of a valid disk (trusted: seeds are valid)."""
    size = len(data)
    footer = Footer.parse(data[-c.FOOTER_SIZE:])
    regions = [Region('footer', size - c.FOOTER_SIZE, size)]
    if footer.disk_type == c.DISK_TYPE_FIXED:
        regions.append(Region('data', 0, size - c.FOOTER_SIZE))
        return SeedDisk(name, data, regions, dynamic=False)
    header = DynamicHeader.parse(data[512:512 + c.HEADER_SIZE])
    entries, bs = header.max_table_entries, header.block_size
    table = header.table_offset
    table_end = table + _sectors(entries * 4) * c.SECTOR_SIZE
    regions += [Region('footer_copy', 0, 512), Region('header', 512, 1536),
                Region('bat', table, table + entries * 4)]
    batmap = BatmapHeader.parse(data[table_end:table_end + 512])
    if batmap.cookie == c.BATMAP_COOKIE:
        regions += [Region('batmap_header', table_end, table_end + 512),
                    Region('batmap', batmap.batmap_offset,
                           batmap.batmap_offset + batmap.batmap_size * 512)]
    if footer.disk_type == c.DISK_TYPE_DIFFERENCING:
        regions += [Region(f'locator{i}', entry.data_offset,
                           entry.data_offset + entry.data_bytes)
                    for i, entry in enumerate(header.locators) if entry.code]
    bat = struct.unpack_from(f'>{entries}I', data, table)
    allocated = [i for i, entry in enumerate(bat) if entry != c.UNALLOCATED]
    span = bitmap_span(bs)
    for index in allocated:
        start = bat[index] * c.SECTOR_SIZE
        regions += [Region(f'bitmap{index}', start, start + span),
                    Region(f'block{index}', start + span, start + span + bs)]
    return SeedDisk(name, data, regions, dynamic=True, entries=entries,
                    table_offset=table, block_size=bs, allocated=allocated)


def build_dynamic(block_size: int, virtual_size: int,
                  blocks: Dict[int, Tuple[bytes, bytes]],
                  entries: Optional[int] = None, batmap: bool = True,
                  disk_type: int = c.DISK_TYPE_DYNAMIC) -> bytes:
    """A small dynamic disk of any block size, laid out as libvhd would.

    ``blocks`` maps a block index to (sector bitmap, data); the batmap bit
    is set where the bitmap is full, as libvhd does.
    """
    count = -(-virtual_size // block_size)
    entries = count if entries is None else entries
    table_bytes = _sectors(entries * 4) * c.SECTOR_SIZE
    batmap_sectors = max(1, _sectors(-(-entries // 8)))
    metadata_end = 1536 + table_bytes + (512 + batmap_sectors * 512
                                         if batmap else 0)
    span = bitmap_span(block_size)
    bat = [c.UNALLOCATED] * entries
    bits = bytearray(batmap_sectors * 512)
    body = bytearray()
    end = metadata_end
    for index in sorted(blocks):
        bitmap, payload = blocks[index]
        bat[index] = end // c.SECTOR_SIZE
        body += bitmap.ljust(span, b'\0') + payload.ljust(block_size, b'\0')
        end += span + block_size
        if bitmap[:block_size // 4096] == b'\xff' * (block_size // 4096):
            bits[index >> 3] |= 0x80 >> (index & 7)
    footer = Footer.for_xenserver(disk_type, virtual_size, 0,
                                  uuid.UUID(int=0x1234).bytes)
    header = DynamicHeader.for_xenserver(entries)
    header.block_size = block_size
    header.checksum = header.computed_checksum()
    table = struct.pack(f'>{entries}I', *bat).ljust(table_bytes, b'\0')
    meta = footer.pack() + header.pack() + table
    if batmap:
        bm_header = BatmapHeader.for_xenserver(
            1536 + table_bytes, entries,
            batmap_checksum(bytes(bits), virtual_size))
        meta += bm_header.pack() + bytes(bits)
    return meta + bytes(body) + footer.pack()


def build_fixed(payload: bytes) -> bytes:
    size = _sectors(len(payload)) * c.SECTOR_SIZE
    footer = Footer.for_xenserver(c.DISK_TYPE_FIXED, size, 0,
                                  uuid.UUID(int=0x5678).bytes)
    return payload.ljust(size, b'\0') + footer.pack()


def generated_seeds(rng: random.Random) -> List[Tuple[str, bytes]]:
    """Small disks that reach what the fixtures do not: other block sizes,
    partly written blocks, no batmap, many BAT entries.
    """
    def noise(length: int) -> bytes:
        return rng.randbytes(length)

    partial = bytes([0xF0]) + bytes(7)  # 4 of the first 64 sectors present
    return [
        ('gen-4k-blocks', build_dynamic(4096, 64 * 1024, {
            0: (b'\xff', noise(4096)), 3: (partial[:1], noise(4096)),
            15: (b'\xff', noise(4096))})),
        ('gen-512-blocks', build_dynamic(512, 16 * 512, {
            1: (b'\x80', noise(512)), 7: (b'\x80', noise(512))})),
        ('gen-64k-no-batmap', build_dynamic(65536, 8 * 65536, {
            2: (b'\xff' * 16, noise(65536))}, batmap=False)),
        ('gen-64k-partial', build_dynamic(65536, 4 * 65536, {
            0: (partial.ljust(16, b'\0'), noise(65536)),
            1: (b'\xff' * 16, noise(65536))}, entries=1000)),
        ('gen-fixed', build_fixed(noise(3 * 512))),
        ('gen-fixed-odd', build_fixed(noise(5000))),
    ]


def read_fixture_bytes(name: str) -> bytes:
    with open(os.path.join(FIXTURES_DIR, name), 'rb') as handle:
        return handle.read()


def load_seeds(rng: random.Random) -> List[SeedDisk]:
    seeds = []
    for name in FIXTURE_SEEDS:
        with open(os.path.join(FIXTURES_DIR, name), 'rb') as handle:
            seeds.append(describe(name, handle.read()))
    generated = generated_seeds(rng)
    for name, data in generated:
        seeds.append(describe(name, data))
    parent = dict(generated)[fuzz_hostile.PARENT_SEED]
    for name, data in fuzz_hostile.differencing_seeds(
            fuzz_hostile.PARENT_SEED, parent):
        seeds.append(describe(name, data))
    return seeds


# -- mutants -----------------------------------------------------------------


@dataclasses.dataclass
class Mutant:
    """A seed with patches applied over it and, maybe, a new length."""

    seed: SeedDisk
    patches: List[Patch] = dataclasses.field(default_factory=list)
    length: Optional[int] = None
    notes: List[str] = dataclasses.field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.seed.data) if self.length is None else self.length

    def read(self, offset: int, length: int) -> bytes:
        """The mutant's bytes (patches over the seed; zeros past its end)."""
        data = bytearray(self.seed.data[offset:offset + length]
                         .ljust(length, b'\0'))
        for at, patch in self.patches:
            lo, hi = max(at, offset), min(at + len(patch), offset + length)
            if lo < hi:
                data[lo - offset:hi - offset] = patch[lo - at:hi - at]
        return bytes(data)

    def patch(self, offset: int, data: bytes, note: str) -> None:
        if offset < 0:
            return
        self.patches.append((offset, data))
        self.notes.append(note)

    def bytes(self) -> bytes:
        """The whole mutant, for replaying a finding by hand."""
        data = bytearray(self.seed.data)
        if self.length is not None:
            data = data[:self.length].ljust(self.length, b'\0')
        for at, patch in self.patches:
            if at + len(patch) <= len(data):  # a cut drops later patches
                data[at:at + len(patch)] = patch
        return bytes(data)


# Fields worth pushing to extremes: (structure, offset in it, struct format).
FOOTER_FIELDS = {
    'features': (8, '>I'), 'file_format_version': (12, '>I'),
    'data_offset': (16, '>Q'), 'timestamp': (24, '>I'),
    'creator_version': (32, '>I'), 'original_size': (40, '>Q'),
    'current_size': (48, '>Q'), 'cylinders': (56, '>H'), 'heads': (58, '>B'),
    'sectors_per_track': (59, '>B'), 'disk_type': (60, '>I'),
    'saved_state': (84, '>B'), 'hidden': (85, '>B'),
}
HEADER_FIELDS = {
    'data_offset': (8, '>Q'), 'table_offset': (16, '>Q'),
    'header_version': (24, '>I'), 'max_table_entries': (28, '>I'),
    'block_size': (32, '>I'), 'parent_timestamp': (56, '>I'),
}
BATMAP_FIELDS = {
    'batmap_offset': (8, '>Q'), 'batmap_size': (16, '>I'),
    'batmap_version': (20, '>I'),
}
MAX = {'>B': 0xFF, '>H': 0xFFFF, '>I': 0xFFFFFFFF, '>Q': 0xFFFFFFFFFFFFFFFF}


def interesting(fmt: str, seed: SeedDisk, field: str) -> List[int]:
    """Boundary values for a field: zero, ones, powers of two, file offsets."""
    top = MAX[fmt]
    size = len(seed.data)
    values = [0, 1, top, top - 1, top >> 1, (top >> 1) + 1, 2, 7, 0x80]
    values += [size, size - 512, size + 512, size - 1, size * 4]
    specific = {
        'table_offset': [1536, 1537, 511, 512, 2048, 1 << 40, 1 << 63],
        'data_offset': [512, 513, 511, 1 << 63],
        'max_table_entries': [0, 1, 3, 4, 1 << 20, (1 << 20) + 1, 1 << 22,
                              1 << 24, 1 << 31, 0xFFFFFFFF],
        'block_size': [0, 1, 511, 512, 1024, 3 << 20, (2 << 20) + 1, 4 << 20,
                       1 << 31, 0xFFFFFFFF, 4096, 6 << 20],
        'disk_type': [0, 1, 2, 3, 4, 5, 6],
        'current_size': [0, 511, 512, 1 << 41, 2040 << 30, (2040 << 30) + 1,
                         1 << 63, 6 << 20, 100 << 20, 2 << 30],
        'original_size': [0, 1 << 41],
        'creator_version': [0x00010001, 0x00010002, 0x00010003, 0x00010004,
                            0x00000001, 0x00050003],
        'features': [0, 1, 2, 3, 4],
        'file_format_version': [0x00010000, 0x00010001, 0],
        'header_version': [0x00010000, 0x00010001],
        'batmap_size': [0, 1, 2, 8, 0x7FFFFFFF, 0xFFFFFFFF],
        'batmap_offset': [0, 512, 1536, 2048, 2560, 1 << 63],
        'batmap_version': [0x00010001, 0x00010002, 0x00010003, 0],
        'timestamp': [0, 0xFFFFFFFF, int(time.time()) - c.VHD_EPOCH + 3600],
        'cylinders': [0, 0xFFFF], 'heads': [0, 16, 255],
        'sectors_per_track': [0, 17, 63, 255],
    }
    values += specific.get(field, [])
    return [v & top for v in values if v >= 0]


def _fix_checksums(mutant: Mutant, rng: random.Random) -> None:
    """Recompute the checksums a mutation broke, so the case goes deeper.

    Which copies get fixed is itself random: a disk with a good primary and
    a bad copy (or the reverse) is a case worth having.
    """
    seed = mutant.seed
    size = mutant.size
    places = [size - c.FOOTER_SIZE]
    if seed.dynamic:
        places.append(0)
    for place in places:
        if place < 0 or rng.random() < 0.1:
            continue
        footer = Footer.parse(mutant.read(place, c.FOOTER_SIZE))
        mutant.patch(place + 64, struct.pack('>I', footer.computed_checksum()),
                     f'footer checksum fixed at {place}')
    if not seed.dynamic:
        return
    header = DynamicHeader.parse(mutant.read(512, c.HEADER_SIZE))
    if rng.random() < 0.9:
        mutant.patch(512 + 36, struct.pack('>I', header.computed_checksum()),
                     'header checksum fixed')
    region = seed.region('batmap_header')
    if region is not None and rng.random() < 0.9:
        bm = BatmapHeader.parse(mutant.read(region.start, 512))
        footer = Footer.parse(mutant.read(max(size - 512, 0), 512))
        length = max(1, _sectors(footer.current_size >> 24)) * 512
        if bm.batmap_offset < (1 << 40) and length < (1 << 24):
            bits = mutant.read(bm.batmap_offset, length)
            mutant.patch(region.start + 24,
                         struct.pack('>I', batmap_checksum(
                             bits, footer.current_size)),
                         'batmap checksum fixed')


def _flip_bits(mutant: Mutant, rng: random.Random, region: Region) -> None:
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        if region.end <= region.start:
            return
        offset = rng.randrange(region.start, region.end)
        bit = 1 << rng.randrange(8)
        byte = mutant.read(offset, 1)[0] ^ bit
        mutant.patch(offset, bytes([byte]),
                     f'flip bit {bit:#x} at {offset} ({region.name})')


def _set_byte(mutant: Mutant, rng: random.Random, region: Region) -> None:
    if region.end <= region.start:
        return
    offset = rng.randrange(region.start, region.end)
    value = rng.choice((0, 0xFF, 0x7F, 0x80, 1, rng.randrange(256)))
    mutant.patch(offset, bytes([value]),
                 f'byte {value:#x} at {offset} ({region.name})')


def _field(mutant: Mutant, rng: random.Random) -> None:
    """Set one footer, header or batmap header field to an extreme."""
    seed = mutant.seed
    choices = [('footer', FOOTER_FIELDS)]
    if seed.dynamic:
        choices += [('footer_copy', FOOTER_FIELDS), ('header', HEADER_FIELDS),
                    ('header', HEADER_FIELDS), ('header', HEADER_FIELDS)]
        if seed.region('batmap_header'):
            choices.append(('batmap_header', BATMAP_FIELDS))
    structure, fields = rng.choice(choices)
    region = seed.region(structure)
    assert region is not None
    name = rng.choice(sorted(fields))
    offset, fmt = fields[name]
    value = rng.choice(interesting(fmt, seed, name))
    mutant.patch(region.start + offset, struct.pack(fmt, value),
                 f'{structure}.{name} = {value:#x}')
    if structure == 'footer' and seed.dynamic and rng.random() < 0.7:
        copy = seed.region('footer_copy')
        assert copy is not None
        mutant.patch(copy.start + offset, struct.pack(fmt, value),
                     f'footer_copy.{name} = {value:#x}')


def _bat_entry(mutant: Mutant, rng: random.Random) -> None:
    """Point a BAT entry into the metadata, past the end, onto another block."""
    seed = mutant.seed
    if not seed.entries:
        return
    sectors = len(seed.data) // 512
    span = (bitmap_span(seed.block_size) + seed.block_size) // 512
    bat_region = seed.region('bat')
    assert bat_region is not None
    targets = [0, 1, 2, 3, seed.table_offset // 512, sectors, sectors - 1,
               sectors - span, sectors - span - 1, sectors + 1, 0xFFFFFFFE,
               0x7FFFFFFF, rng.randrange(1 << 32), rng.randrange(sectors + 1)]
    for index in seed.allocated:
        entry = struct.unpack_from('>I', seed.data,
                                   seed.table_offset + 4 * index)[0]
        targets += [entry, entry + 1, entry - 1, entry + span // 2,
                    entry + span - 1, entry + span]
    index = rng.choice(seed.allocated + [rng.randrange(seed.entries)]
                       if seed.allocated else [rng.randrange(seed.entries)])
    if rng.random() < 0.1:
        index = seed.entries - 1
    value = rng.choice(targets) & 0xFFFFFFFF
    mutant.patch(bat_region.start + 4 * index, struct.pack('>I', value),
                 f'bat[{index}] = {value:#x}')


def _batmap_bits(mutant: Mutant, rng: random.Random) -> None:
    """Mark blocks full in the batmap, allocated or not."""
    region = mutant.seed.region('batmap')
    if region is None:
        return
    index = rng.randrange(max(1, mutant.seed.entries))
    offset = region.start + (index >> 3)
    byte = mutant.read(offset, 1)[0] | (0x80 >> (index & 7))
    if rng.random() < 0.3:
        byte = 0xFF
    mutant.patch(offset, bytes([byte]), f'batmap bit {index} set')


def _truncate(mutant: Mutant, rng: random.Random) -> None:
    points = mutant.seed.boundaries()
    point = rng.choice(points) + rng.choice((0, 0, -1, 1, -512, 511, -511))
    mutant.length = max(0, point)
    mutant.notes.append(f'truncate to {mutant.length}')


def _extend(mutant: Mutant, rng: random.Random) -> None:
    extra = rng.choice((1, 511, 512, 513, 4096, 1 << 20))
    mutant.length = len(mutant.seed.data) + extra
    if rng.random() < 0.5:
        # The old footer is now followed by junk: a misplaced footer.
        mutant.patch(mutant.length - 512,
                     mutant.seed.data[-512:][:min(512, extra)],
                     'footer copied after the end')
    mutant.notes.append(f'extend by {extra}')


def _huge(mutant: Mutant, rng: random.Random) -> None:
    """A sparse file of gigabytes whose header claims a BAT to fill it.

    Making it costs nothing, so a hostile one is cheap too: reading such a
    BAT whole would allocate up to 16 GiB.
    """
    seed = mutant.seed
    mutant.length = rng.choice((4 << 30, (16 << 30) + (1 << 20), 1 << 36))
    mutant.patch(mutant.length - 512, seed.data[-512:], 'footer moved to end')
    mutant.notes.append(f'sparse extend to {mutant.length}')
    if seed.dynamic:
        header = seed.region('header')
        assert header is not None
        entries = rng.choice((0xFFFFFFFF, 1 << 31, 1 << 30, 1 << 24))
        mutant.patch(header.start + 28, struct.pack('>I', entries),
                     f'header.max_table_entries = {entries:#x}')
        block_size = rng.choice((512, 512, 4096, 1 << 21))
        mutant.patch(header.start + 32, struct.pack('>I', block_size),
                     f'header.block_size = {block_size:#x}')
        if rng.random() < 0.5:
            size = rng.choice((1 << 41, 2040 << 30, 1 << 40))
            for place in (0, mutant.length - 512):
                mutant.patch(place + 48, struct.pack('>Q', size),
                             f'footer.current_size = {size:#x} at {place}')


def _region_mutation(mutant: Mutant, rng: random.Random) -> None:
    regions = [r for r in mutant.seed.regions
               if not r.name.startswith(('block', 'data'))
               or rng.random() < 0.05]
    region = rng.choice(regions)
    if region.name.startswith(('block', 'data')):
        region = Region(region.name, region.start,
                        min(region.end, region.start + 4096))
    if rng.random() < 0.7:
        _flip_bits(mutant, rng, region)
    else:
        _set_byte(mutant, rng, region)


MUTATORS: Sequence[Tuple[float, Callable[[Mutant, random.Random], None]]] = (
    (0.35, _region_mutation), (0.25, _field), (0.15, _bat_entry),
    (0.05, _batmap_bits), (0.15, _truncate), (0.04, _extend),
    (0.01, _huge), (0.04, fuzz_hostile.size_extremes),
    (0.03, fuzz_hostile.bat_alias), (0.02, fuzz_hostile.over_holes),
    (0.04, fuzz_hostile.locator), (0.02, fuzz_hostile.hostile_text),
)
# The share of cases made from a differencing seed (hostile locators and
# chains): enough to reach every one often, not so many that the plain
# disks' structures go short.
DIFFERENCING_SHARE = 0.2


def make_mutant(seeds: Sequence[SeedDisk], seed: int, index: int) -> Mutant:
    """Case ``index`` of campaign ``seed``: the same mutant every time."""
    rng = random.Random(f'{seed}:{index}')
    systematic = truncation_cases(seeds)
    if index < len(systematic):
        disk, length = systematic[index]
        mutant = Mutant(disk, length=length)
        mutant.notes.append(f'truncate to {length} (systematic)')
        return mutant
    differencing = [disk for disk in seeds
                    if disk.name.startswith(fuzz_hostile.PREFIX)]
    plain = [disk for disk in seeds
             if not disk.name.startswith(fuzz_hostile.PREFIX)]
    pool = differencing if rng.random() < DIFFERENCING_SHARE else plain
    mutant = Mutant(rng.choice(pool or seeds))
    weights = [w for w, _ in MUTATORS]
    functions = [f for _, f in MUTATORS]
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 5))):
        rng.choices(functions, weights)[0](mutant, rng)
    if rng.random() < 0.75:
        _fix_checksums(mutant, rng)
    return mutant


_TRUNCATIONS: Dict[int, List[Tuple[SeedDisk, int]]] = {}


def truncation_cases(seeds: Sequence[SeedDisk]) -> List[Tuple[SeedDisk, int]]:
    """Every seed cut at every structure boundary, and one byte either side."""
    key = id(seeds)
    if key not in _TRUNCATIONS:
        cases = []
        for disk in seeds:
            for point in disk.boundaries():
                for delta in (-1, 0, 1):
                    if 0 <= point + delta < len(disk.data):
                        cases.append((disk, point + delta))
        _TRUNCATIONS[key] = cases
    return _TRUNCATIONS[key]


# -- materialising mutants cheaply -------------------------------------------


class WorkFiles:
    """One file per seed on disk, patched in place for a case and restored.

    Rewriting multi-megabyte fixtures for each of 10,000 cases would take
    most of the time budget; patching and restoring a few sectors does not.
    """

    CHUNK = 65536

    def __init__(self, directory: str, seeds: Sequence[SeedDisk]):
        self.paths: Dict[str, str] = {}
        self.chunks: Dict[str, List[int]] = {}
        fuzz_hostile.prepare(directory)
        for disk in seeds:
            view = memoryview(disk.data)
            self.chunks[disk.name] = [
                offset for offset in range(0, len(disk.data), self.CHUNK)
                if view[offset:offset + self.CHUNK].tobytes().count(0)
                != len(view[offset:offset + self.CHUNK])]
            path = os.path.join(directory, disk.name)
            with open(path, 'wb') as handle:
                self._write_sparse(handle.fileno(), disk.name, disk.data, 0)
                handle.truncate(len(disk.data))
            self.paths[disk.name] = path

    def _write_sparse(self, fd: int, name: str, data: bytes,
                      start: int) -> None:
        """Write ``data[start:]`` at ``start``, skipping all-zero chunks."""
        view = memoryview(data)
        for offset in self.chunks[name]:
            if offset + self.CHUNK > start:
                begin = max(offset, start)
                os.pwrite(fd, view[begin:offset + self.CHUNK], begin)

    @contextlib.contextmanager
    def materialise(self, mutant: Mutant) -> Iterator[str]:
        path = self.paths[mutant.seed.name]
        data = mutant.seed.data
        fd = os.open(path, os.O_RDWR)
        try:
            if mutant.length is not None:
                os.ftruncate(fd, mutant.length)
            for offset, patch in mutant.patches:
                if offset + len(patch) <= mutant.size:
                    os.pwrite(fd, patch, offset)
            yield path
        finally:
            if mutant.length is not None:
                os.ftruncate(fd, len(data))
                if mutant.length < len(data):
                    self._write_sparse(fd, mutant.seed.name, data,
                                       mutant.length)
            for offset, patch in mutant.patches:
                if offset < len(data):
                    os.pwrite(fd, data[offset:offset + len(patch)], offset)
            os.close(fd)


# -- targets -----------------------------------------------------------------


class CallTimeout(BaseException):
    """Raised by the alarm inside a call that hangs."""


@dataclasses.dataclass
class Finding:
    """A call that broke a rule: what, on which case, and how."""

    index: int
    target: str
    problem: str
    notes: List[str]
    seed_name: str

    def to_dict(self) -> Dict[str, object]:
        return dataclasses.asdict(self)


def one_line_problem(text: str, path: str) -> Optional[str]:
    """Why ``text`` is not a one-line rejection that says what is wrong."""
    if not text or not text.strip():
        return 'empty error message'
    if '\n' in text.strip():
        return f'error message spans lines: {text!r}'
    if 'Traceback' in text or ' object at 0x' in text:
        return f'error message is a Python internal: {text!r}'
    reason = text.replace(path, '').strip(' :')
    if len(reason) < 8:
        return f'error message does not say what is wrong: {text!r}'
    return None


def _read_some(image) -> None:
    """Touch the data the way a conversion would, but boundedly."""
    count = 0
    for start, end in image.data_extents():
        if count < READ_EXTENTS:
            image.read(start, min(READ_LENGTH, end - start))
            if end - start > READ_LENGTH:
                image.read(end - READ_LENGTH, READ_LENGTH)
        count += 1
        if count > 1 << 22:
            raise AssertionError('data_extents yields more extents than '
                                 'any BAT can hold')
    if image.size:
        image.read(max(0, image.size - 512), min(512, image.size))


def target_reader(path: str) -> Optional[str]:
    from diskimage_vhd.image.reader import VhdImage
    try:
        with VhdImage(path) as image:
            _read_some(image)
    except VhdError as error:
        return one_line_problem(str(error), path)
    return None


def target_inspect(path: str) -> Optional[str]:
    from diskimage_vhd.image.summary import inspect
    try:
        info = inspect(path)
        json.dumps(info)
    except VhdError as error:
        return one_line_problem(str(error), path)
    return None


def _run_check(path: str, bitmaps: bool) -> Tuple[Optional[str], object]:
    """The checker's verdict, and what is wrong with how it was given."""
    from diskimage_vhd import check
    try:
        report = check(path, check_bitmaps=bitmaps)
    except VhdError as error:
        # Every case is a readable regular file: whatever is wrong with it
        # is a verdict to report, not an error reading it.
        return f'raised instead of reporting: {error}', None
    json.dumps(report.to_dict())
    if report.valid:
        return (None if report.exit_code == 0 else 'valid but non-zero exit',
                report)
    if not report.exit_code:
        return f'invalid ({report.error}) but exit code 0', report
    return one_line_problem(report.error, path), report


def target_check(path: str) -> Optional[str]:
    return _run_check(path, bitmaps=False)[0]


def target_check_bitmaps(path: str) -> Optional[str]:
    """``check -b``; and a disk it passes is one the reader can read whole:
    what XenServer accepts, this package must be able to convert.
    """
    from diskimage_vhd.image.chain import open_chain
    from diskimage_vhd.image.reader import VhdImage
    problem, report = _run_check(path, bitmaps=True)
    if problem or not getattr(report, 'valid', False) \
            or not _xenserver_blocks(path):
        return problem
    try:
        with VhdImage(path) as image:
            if image.footer.is_differencing:
                with open_chain(image) as chain:
                    _read_some(chain)
            else:
                _read_some(image)
    except VhdError as error:
        return f'vhd-util check -b passes it, but the reader refuses: {error}'
    return None


def _xenserver_blocks(path: str) -> bool:
    """A fixed disk, or a dynamic one of 2 MiB blocks: libvhd checks the BAT
    in 2 MiB units whatever the header says, so for other block sizes its
    verdict says nothing about the blocks the reader uses.  A differencing
    disk is read through its chain.
    """
    with open(path, 'rb') as handle:
        handle.seek(-512, os.SEEK_END)
        footer = Footer.parse(handle.read(512).ljust(512, b'\0'))
        if footer.disk_type == c.DISK_TYPE_FIXED:
            return True
        handle.seek(512)
        header = DynamicHeader.parse(handle.read(1024).ljust(1024, b'\0'))
    return header.block_size == c.BLOCK_SIZE


def target_convert(path: str) -> Optional[str]:
    """Converting a corrupt disk is refused in one line, or makes a disk the
    reader accepts; nothing is left at the destination on refusal.
    """
    from diskimage_vhd.image.reader import VhdImage
    from diskimage_vhd.make.convert import convert
    out = path + '.out.vhd'
    try:
        try:
            convert(path, out, source_format='vhd', target_format='dynamic',
                    timestamp=1_000_000_000)
        except VhdError as error:
            if os.path.exists(out):
                return 'a refused conversion left its destination behind'
            return one_line_problem(str(error), path)
        with VhdImage(out) as image:
            image.read(0, min(image.size, READ_LENGTH))
        return None
    finally:
        if os.path.exists(out):
            os.unlink(out)


def _captured(main: Callable[[List[str]], int], argv: List[str]
              ) -> Tuple[object, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status: object = main(argv)
        except SystemExit as leaving:
            status = leaving.code
    return status, out.getvalue(), err.getvalue()


def cli_problem(command: str, status: object, out: str, err: str,
                path: str) -> Optional[str]:
    """The rules every command's answer to a corrupt disk must follow."""
    if 'Traceback' in out + err:
        return f'{command}: traceback: {(out + err)[-300:]!r}'
    raw = [char for char in out + err if char != '\n' and (
        ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F
        or char in '\u2028\u2029\u202e')]
    if raw:
        return (f'{command}: unescaped control characters {raw[:4]!r} in '
                f'the output: {(out + err)[-300:]!r}')
    if not isinstance(status, int):
        return f'{command}: exit status {status!r} is not a number'
    if status == 0:
        return None
    if command.startswith('diskimage-vhd check'):
        lines = out.splitlines()
        if not lines or 'is invalid: ' not in lines[0]:
            return f'{command}: no "is invalid" line: {out!r} {err!r}'
        return one_line_problem(lines[0].split('is invalid: ', 1)[1] + err,
                                path)
    if command.startswith('diskimage-vhd'):
        return one_line_problem(err, path)
    if not (out + err).strip():
        return f'{command}: failed ({status}) without saying why'
    return None


def diskimage_vhd_commands(path: str) -> List[Tuple[str, List[str]]]:
    return [('diskimage-vhd info', ['info', path]),
            ('diskimage-vhd check', ['check', path]),
            ('diskimage-vhd check -b', ['check', '-b', path])]


def vhd_util_commands(path: str) -> List[Tuple[str, List[str]]]:
    return [('vhd-util check', ['check', '-n', path]),
            ('vhd-util check -b', ['check', '-b', '-n', path]),
            ('vhd-util read -p', ['read', '-p', '-n', path]),
            ('vhd-util query', ['query', '-n', path, '-v', '-s', '-a', '-S',
                                '-f', '-d', '-p'])]


def have_vhd_util() -> bool:
    """Whether the drop-in vhd-util has landed (its entry point imports)."""
    return importlib.util.find_spec('diskimage_vhd.vhdutil.cli') is not None


def target_commands(path: str) -> Optional[str]:
    """Both commands' entry points, in process, output captured."""
    from diskimage_vhd.cli import commands as cli
    commands = [(name, cli.main, argv)
                for name, argv in diskimage_vhd_commands(path)]
    if have_vhd_util():
        from diskimage_vhd.vhdutil import cli as vhdutil_cli
        commands += [(name, vhdutil_cli.main, argv)
                     for name, argv in vhd_util_commands(path)]
    for name, main, argv in commands:
        status, out, err = _captured(main, argv)
        problem = cli_problem(name, status, out, err, path)
        if problem:
            return problem
    return None


# Targets and the fraction of cases each runs on (the API on all of them).
TARGETS: Sequence[Tuple[str, Callable[[str], Optional[str]], int]] = (
    ('reader', target_reader, 1),
    ('inspect', target_inspect, 1),
    ('check', target_check, 1),
    ('check -b', target_check_bitmaps, 1),
    ('commands in process', target_commands, 10),
    ('convert', target_convert, 50),
)


def _on_alarm(signum: int, frame: object) -> None:
    raise CallTimeout()


def run_target(function: Callable[[str], Optional[str]], path: str
               ) -> Tuple[Optional[str], float]:
    """Call a target with an alarm armed; any exception is a finding."""
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, ALARM_SECONDS)
    try:
        problem = function(path)
    except CallTimeout:
        problem = f'did not finish in {ALARM_SECONDS:.0f} s'
    except (Exception, MemoryError, RecursionError):
        problem = 'escaped: ' + ''.join(
            traceback.format_exc().strip().splitlines(True)[-6:])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    elapsed = time.monotonic() - started
    if problem is None and elapsed > CALL_SECONDS:
        problem = f'took {elapsed:.1f} s'
    return problem, elapsed


@dataclasses.dataclass
class CampaignResult:
    seed: int
    cases: int
    seconds: float
    findings: List[Finding]
    slowest: Dict[str, float]
    max_rss_mib: float
    calls: Dict[str, int]
    spent: Dict[str, float]

    def to_dict(self) -> Dict[str, object]:
        result = dataclasses.asdict(self)
        result['findings'] = [f.to_dict() for f in self.findings]
        return result


def run_campaign(seed: int, cases: int, seconds: float, workdir: str,
                 first: int = 0, max_findings: int = 50,
                 targets: Sequence[Tuple[str, Callable, int]] = TARGETS
                 ) -> CampaignResult:
    """Run cases ``first ..`` until ``cases`` are done or ``seconds`` pass."""
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    seeds = load_seeds(random.Random(seed))
    files = WorkFiles(workdir, seeds)
    watch = fuzz_hostile.OpenWatch.watching(workdir)
    started = time.monotonic()
    findings: List[Finding] = []
    slowest: Dict[str, float] = {}
    calls: Dict[str, int] = {}
    spent: Dict[str, float] = {}
    done = 0
    try:
        for index in range(first, first + cases):
            if time.monotonic() - started > seconds:
                break
            mutant = make_mutant(seeds, seed, index)
            with files.materialise(mutant) as path:
                for name, function, every in targets:
                    if index % every:
                        continue
                    problem, elapsed = run_target(function, path)
                    problem = problem or watch.take()
                    calls[name] = calls.get(name, 0) + 1
                    slowest[name] = max(slowest.get(name, 0.0), elapsed)
                    spent[name] = spent.get(name, 0.0) + elapsed
                    if problem:
                        findings.append(Finding(index, name, problem,
                                                mutant.notes, mutant.seed.name))
            done += 1
            if len(findings) >= max_findings:
                break
    finally:
        signal.signal(signal.SIGALRM, previous)
    rss = peak_rss_mib()
    return CampaignResult(seed, done, time.monotonic() - started, findings,
                          slowest, rss, calls, spent)


def peak_rss_mib() -> float:
    """This process's own peak RSS, in MiB.

    ``ru_maxrss`` is no good here: Linux carries it across ``execve``, so a
    child forked from a big test runner reports the runner's size.  VmHWM
    belongs to the current address space only.
    """
    try:
        with open('/proc/self/status') as status:
            for line in status:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def limit_address_space(limit: int = ADDRESS_SPACE_LIMIT) -> None:
    """Turn an attempt to allocate gigabytes into a MemoryError (a finding)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def sample_mutants(seed: int, count: int, total: int
                   ) -> List[Tuple[int, Mutant]]:
    """``count`` cases spread over a campaign, for the slow subprocess runs."""
    seeds = load_seeds(random.Random(seed))
    step = max(1, total // count)
    return [(index, make_mutant(seeds, seed, index))
            for index in range(0, step * count, step)]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog='python -m tests.fuzzing',
        description='Fuzz the VHD reader, checker and commands.')
    parser.add_argument('--seed', type=int, default=None)
    parser.add_argument('--cases', type=int, default=10000)
    parser.add_argument('--seconds', type=float, default=80.0)
    parser.add_argument('--first', type=int, default=0)
    parser.add_argument('--replay', type=int, metavar='INDEX',
                        help='write case INDEX to --output and run it once')
    parser.add_argument('--output', default='fuzz-case.vhd')
    parser.add_argument('--json', action='store_true')
    parser.add_argument('--no-limit', action='store_true',
                        help='do not cap the address space')
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    if not args.no_limit:
        limit_address_space()
    if args.replay is not None:
        seeds = load_seeds(random.Random(seed))
        mutant = make_mutant(seeds, seed, args.replay)
        with open(args.output, 'wb') as handle:
            handle.write(mutant.bytes())
        print(f'case {args.replay} of seed {seed} ({mutant.seed.name}: '
              f'{"; ".join(mutant.notes)}) written to {args.output}')
        for name, function, _every in TARGETS:
            problem, elapsed = run_target(function, args.output)
            print(f'{name}: {problem or "ok"} ({elapsed:.3f} s)')
        return 0
    workdir = tempfile.mkdtemp(prefix='diskimage-vhd-fuzz-')
    try:
        result = run_campaign(seed, args.cases, args.seconds, workdir,
                              first=args.first)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(f'seed {seed}: {result.cases} cases in {result.seconds:.1f} s, '
              f'{len(result.findings)} findings, max RSS '
              f'{result.max_rss_mib:.0f} MiB')
        for name, slowest in sorted(result.slowest.items()):
            print(f'  {name}: {result.calls[name]} calls, '
                  f'{result.spent[name]:.1f} s, slowest '
                  f'{slowest * 1000:.1f} ms')
        for finding in result.findings:
            print(f'case {finding.index} [{finding.target}] '
                  f'{finding.seed_name}: {"; ".join(finding.notes)}\n'
                  f'    {finding.problem}')
    return 1 if result.findings else 0


if __name__ == '__main__':
    sys.exit(main())
