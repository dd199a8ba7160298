"""The fuzz campaign's hostile classes: what an attacker crafts on purpose.

Bit flips and cuts find what a corrupt file does; these find what a file
made to hurt does (issue 9): size fields at their extremes in every copy at
once, BAT entries aliasing one block, blocks allocated over the holes of a
sparse tail, differencing disks whose locators name FIFOs, character
devices, the disk itself, a cycle or names longer than any path, honest
chains whose parents are present, and control characters where a disk
carries text the commands print (the creator field, the parent name: a
forged line, escape sequences for the terminal).  ``tests/fuzzing.py``
draws on them; the ``OpenWatch`` makes opening what a locator must never
lead to a finding.

The mutators use only ``Mutant``'s interface (``seed``, ``size``,
``length``, ``patch``, ``notes``), so this module does not import the
campaign's.
"""

from __future__ import annotations

import os
import random
import struct
import sys
import tempfile
import uuid
from typing import List, Optional, Sequence, Set, Tuple

from diskimage_vhd.format.bitmap import sector_bitmap_bytes
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.locator import PlatformCode
from tests.differencing import make_child

# The seed every honest child descends from (generated, always present).
PARENT_SEED = 'gen-4k-blocks'
PREFIX = 'diff-'
NAMESPACE = uuid.UUID('0c1b5d1e-9a0f-4d55-8e61-66757a7a6572')
FIFO, DEVICE_LINK = 'fifo', 'ptmx'
DEVICES = ('/dev/ptmx', '/dev/zero')
# Longer than a name (NAME_MAX, 255) and than a path (PATH_MAX, 4096) may be.
LONG_NAME = 'x' * 300
LONG_PATH = './' + 'd/' * 2100 + 'p'
HOSTILE_LOCATORS: Sequence[Tuple[str, str]] = (
    ('diff-self', './diff-self'),
    ('diff-fifo', f'./{FIFO}'),
    ('diff-ptmx', DEVICES[0]),
    ('diff-zero', DEVICES[1]),
    ('diff-device-link', f'./{DEVICE_LINK}'),
    ('diff-directory', '.'),
    ('diff-long-name', LONG_NAME),
    ('diff-long-path', LONG_PATH),
    ('diff-missing', './no-such-parent'),
)
# Offsets in the footer and the dynamic header (format/footer.py, header.py).
FOOTER_SIZES = {'original_size': 40, 'current_size': 48}
FOOTER_DATA_OFFSET = 16
HEADER_FIELDS = {'table_offset': (16, '>Q'), 'max_table_entries': (28, '>I'),
                 'block_size': (32, '>I')}
LOCATORS_AT = 576  # the header's eight 24-byte parent locator entries
U64 = (1 << 64) - 1
EXTREMES = {
    'original_size': [0, 1 << 63, U64],
    'current_size': [0, 1 << 63, U64, c.MAX_VIRTUAL_SIZE,
                     c.MAX_VIRTUAL_SIZE + 512],
    'data_offset': [0, 1 << 63, U64, 511],
    'table_offset': [0, 1 << 63, U64, 512],
    'max_table_entries': [0, (1 << 32) - 1],
    'block_size': [0, 1, 1 << 31],
}


def _unique_id(name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, name)


def differencing_seeds(parent_name: str, parent: bytes
                       ) -> List[Tuple[str, bytes]]:
    """Children of ``parent``: an honest chain of two, a cycle, and one per
    hostile locator.  Their locators are relative where they can be, so they
    resolve among the campaign's work files (``prepare``).
    """
    parent_uuid = Footer.parse(parent[-c.FOOTER_SIZE:]).unique_id
    links = [('diff-child', f'./{parent_name}', parent_uuid),
             ('diff-grandchild', './diff-child', _unique_id('diff-child').bytes),
             ('diff-cycle-a', './diff-cycle-b',
              _unique_id('diff-cycle-b').bytes),
             ('diff-cycle-b', './diff-cycle-a',
              _unique_id('diff-cycle-a').bytes)]
    links += [(name, locator, parent_uuid)
              for name, locator in HOSTILE_LOCATORS]
    seeds = []
    with tempfile.TemporaryDirectory(prefix='diskimage-vhd-seeds-') as scratch:
        for name, locator, uuid_bytes in links:
            path = os.path.join(scratch, name)
            make_child(path, os.path.basename(locator)[:64], locator,
                       uuid_bytes, unique_id=_unique_id(name))
            with open(path, 'rb') as handle:
                seeds.append((name, handle.read()))
    return seeds


def prepare(directory: str) -> None:
    """What the hostile locators name beside the work files: a FIFO with no
    writer (opening it would hang) and a link to a character device.
    """
    fifo = os.path.join(directory, FIFO)
    if not os.path.lexists(fifo):
        os.mkfifo(fifo)
    link = os.path.join(directory, DEVICE_LINK)
    if not os.path.lexists(link):
        os.symlink(DEVICES[0], link)


class OpenWatch:
    """Records any open(2) of what a locator must never lead to.

    An audit hook cannot be removed, so one watch serves the process; each
    campaign points it at its own directory.
    """

    _instance: Optional['OpenWatch'] = None

    def __init__(self) -> None:
        self.forbidden: Set[str] = set()
        self.opened: List[str] = []
        sys.addaudithook(self._hook)

    @classmethod
    def watching(cls, directory: str) -> 'OpenWatch':
        if cls._instance is None:
            cls._instance = cls()
        watch = cls._instance
        real = os.path.realpath(directory)
        watch.forbidden = set(DEVICES) | {
            os.path.join(place, name) for place in (directory, real)
            for name in (FIFO, DEVICE_LINK)}
        watch.opened = []
        return watch

    def _hook(self, event: str, args: tuple) -> None:
        if event != 'open' or not self.forbidden or not args:
            return
        path = args[0]
        if isinstance(path, (str, bytes, os.PathLike)):
            path = os.path.normpath(os.fsdecode(path))
            if path in self.forbidden:
                self.opened.append(path)

    def take(self) -> Optional[str]:
        """A finding if anything forbidden was opened since the last call."""
        if not self.opened:
            return None
        opened, self.opened = self.opened, []
        return f'opened {", ".join(sorted(set(opened)))}'


# Text a disk carries that the commands print: a creator (4 bytes, in both
# footers) and a differencing disk's parent name (UTF-16BE in the header).
CREATOR_AT = 28
PARENT_NAME_AT = 64
CONTROL_CREATORS = (b'\x1b[2J', b'\x1bc\n\r', b'\x07\x9b\x00\x7f',
                    b'\n\xff\xfe\x1b')
FORGED_NAMES = ('miss\nchild.vhd is valid\n', '\x1b]0;owned\x07x.vhd',
                '\x1bc\x1b[2J\u202e\u2028p.vhd', '\r\x9b31mred')

# -- mutators ----------------------------------------------------------------


def _regions(mutant) -> Tuple[int, Optional[int], Optional[int]]:
    """Where the primary footer, the copy and the header are (or None)."""
    seed = mutant.seed
    copy = 0 if seed.dynamic else None
    header = seed.region('header')
    return mutant.size - c.FOOTER_SIZE, copy, header.start if header else None


def size_extremes(mutant, rng: random.Random) -> None:
    """One size or offset field at an extreme, the same in every copy, so a
    disk that disagrees with itself is not refused before the field is
    used.
    """
    primary, copy, header = _regions(mutant)
    fields = ['original_size', 'current_size', 'data_offset']
    if header is not None:
        fields += sorted(HEADER_FIELDS)
    name = rng.choice(fields)
    value = rng.choice(EXTREMES[name])
    if name in HEADER_FIELDS:
        offset, fmt = HEADER_FIELDS[name]
        assert header is not None
        mutant.patch(header + offset, struct.pack(fmt, value),
                     f'header.{name} = {value:#x} (extreme)')
        return
    offset = FOOTER_SIZES.get(name, FOOTER_DATA_OFFSET)
    for place in (primary, copy):
        if place is not None:
            mutant.patch(place + offset, struct.pack('>Q', value),
                         f'footer.{name} = {value:#x} at {place} (extreme)')


def _bat(mutant) -> List[int]:
    seed = mutant.seed
    return list(struct.unpack_from(f'>{seed.entries}I', seed.data,
                                   seed.table_offset))


def bat_alias(mutant, rng: random.Random) -> None:
    """Several BAT entries, or all, pointing at one allocated block: a small
    file that reads as a disk of the same block again and again.
    """
    seed = mutant.seed
    if not seed.allocated:
        return
    bat = _bat(mutant)
    target = bat[rng.choice(seed.allocated)]
    count = rng.choice((2, 3, seed.entries))
    for index in rng.sample(range(seed.entries), min(count, seed.entries)):
        bat[index] = target
    mutant.patch(seed.table_offset, struct.pack(f'>{seed.entries}I', *bat),
                 f'bat aliased: {min(count, seed.entries)} entries -> '
                 f'{target:#x}')


def over_holes(mutant, rng: random.Random) -> None:
    """A sparse tail of up to 16 GiB with blocks allocated over its holes
    (a fixed disk: its data is the tail); the work must follow the data,
    not the claims.
    """
    seed = mutant.seed
    tail = rng.choice((64 << 20, 1 << 30, 16 << 30))
    old = -(-len(seed.data) // c.SECTOR_SIZE) * c.SECTOR_SIZE
    mutant.length = old + tail + c.FOOTER_SIZE
    footer = seed.data[-c.FOOTER_SIZE:]
    mutant.patch(mutant.length - c.FOOTER_SIZE, footer,
                 'footer moved past a sparse tail')
    if not seed.dynamic:
        size = struct.pack('>Q', mutant.length - c.FOOTER_SIZE)
        mutant.patch(mutant.length - c.FOOTER_SIZE + 48, size,
                     f'fixed data over holes: {tail:#x} bytes of tail')
        return
    span = sector_bitmap_bytes(seed.block_size) + seed.block_size
    stride = span * rng.choice((1, 1, 3))
    bat = _bat(mutant)
    blocks = min(seed.entries, tail // stride)
    for index in range(blocks):
        bat[index] = (old + index * stride) // c.SECTOR_SIZE
    mutant.patch(seed.table_offset, struct.pack(f'>{seed.entries}I', *bat),
                 f'{blocks} blocks allocated over holes of {tail:#x} bytes')


def locator(mutant, rng: random.Random) -> None:
    """A differencing disk's locator entry with a hostile field."""
    header = mutant.seed.region('header')
    if header is None or not mutant.seed.name.startswith(PREFIX):
        return
    entry = header.start + LOCATORS_AT + 24 * rng.randrange(2)
    name, offset, fmt, values = rng.choice((
        ('code', 0, '>I', [0, PlatformCode.MACX, PlatformCode.W2KU,
                           PlatformCode.W2RU, 0xFFFFFFFF]),
        ('data_space', 4, '>I', [0, 1, 511, 512, 4096, 0xFFFFFE00,
                                 0xFFFFFFFF]),
        ('data_length', 8, '>I', [0, 1, 512, 4097, 0x7FFFFFFF, 0xFFFFFFFF]),
        ('data_offset', 16, '>Q', [0, 512, 1536, mutant.size, 1 << 63,
                                   U64])))
    value = int(rng.choice(values))
    mutant.patch(entry + offset, struct.pack(fmt, value),
                 f'locator.{name} = {value:#x}')


def hostile_text(mutant, rng: random.Random) -> None:
    """Control characters in text the commands print: a forged line, a
    terminal reset, a window title, in the creator field or the parent name.
    """
    primary, copy, header = _regions(mutant)
    if header is not None and mutant.seed.name.startswith(PREFIX) \
            and rng.random() < 0.7:
        name = rng.choice(FORGED_NAMES)
        mutant.patch(header + PARENT_NAME_AT,
                     name.encode('utf-16-be')[:512].ljust(512, b'\0'),
                     f'parent name {name!r} (control characters)')
        return
    value = rng.choice(CONTROL_CREATORS)
    for place in (primary, copy):
        if place is not None:
            mutant.patch(place + CREATOR_AT, value,
                         f'footer.creator = {value!r} at {place} '
                         '(control characters)')
