"""Generated inputs, converted every way, refereed by qemu-img and the reader."""

from __future__ import annotations

import os
from typing import Dict, List, Tuple

from diskimage_vhd import convert
from diskimage_vhd.image.reader import VhdImage
from tests import base

MiB, BLOCK = base.MiB, base.BLOCK
GiB = 1024 * MiB


def _scattered() -> List[Tuple[int, bytes]]:
    writes = []
    for i, offset in enumerate((0, 3 * MiB + 512, 7 * MiB + 4096, 11 * MiB - 700)):
        writes.append((offset, base.random_bytes(700 + 300 * i, seed=i)))
    return writes


# name: (size, writes, blocks a sparse conversion must allocate)
CASES: Dict[str, Tuple[int, List[Tuple[int, bytes]], int]] = {
    'one-sector': (512, [(0, base.random_bytes(512))], 1),
    'block-minus-a-sector': (BLOCK - 512, [(0, base.random_bytes(BLOCK - 512))], 1),
    'exactly-one-block': (BLOCK, [(0, base.random_bytes(BLOCK))], 1),
    'block-plus-a-sector': (BLOCK + 512, [(0, base.random_bytes(BLOCK + 512))], 2),
    'all-holes': (10 * MiB, [], 0),
    'last-sector-only': (8 * MiB, [(8 * MiB - 512, b'\x01' * 512)], 1),
    'fully-random': (5 * MiB + 1536, [(0, base.random_bytes(5 * MiB + 1536, 7))], 3),
    'scattered': (12 * MiB, _scattered(), 4),
    'written-zeros': (6 * MiB, [(0, bytes(6 * MiB))], 0),
    'zeros-and-data': (6 * MiB, [(0, bytes(4 * MiB)), (4 * MiB + 9, b'x')], 1),
    'straddling-blocks': (6 * MiB, [(BLOCK - 1000, base.random_bytes(2000, 3)),
                                    (2 * BLOCK - 3, b'abcdef')], 3),
    'bat-longer-than-a-sector': (
        300 * MiB, [(i * 2 * BLOCK + 4096, b'data %d' % i) for i in range(70)],
        70),
}


class TestConversionMatrix(base.TempDirTestCase):

    def make_case(self, name: str) -> Tuple[str, int]:
        size, writes, blocks = CASES[name]
        return base.make_raw(self.path(name + '.raw'), size, writes), blocks

    def assertReaderMatches(self, raw: str, vhd: str) -> None:
        """The package's own reader returns the raw input's bytes."""
        chunk = 16 * MiB
        with open(raw, 'rb') as handle, VhdImage(vhd) as image:
            raw_size = os.fstat(handle.fileno()).st_size
            self.assertGreaterEqual(image.size, raw_size)
            for offset in range(0, image.size, chunk):
                length = min(chunk, image.size - offset)
                expected = handle.read(length).ljust(length, b'\0')
                self.assertEqual(image.read(offset, length), expected,
                                 f'differs within {offset}..{offset + length}')

    def test_sparse_dynamic(self) -> None:
        for name in CASES:
            with self.subTest(name):
                raw, blocks = self.make_case(name)
                vhd = self.path(name + '.vhd')
                result = convert(raw, vhd)
                self.assertEqual(result.allocated_blocks, blocks)
                base.qemu_compare(self, raw, vhd)
                self.assertReaderMatches(raw, vhd)
                self.assertEqual(result.virtual_size % BLOCK, 0)

    def test_allocate_all(self) -> None:
        for name in ('scattered', 'all-holes', 'block-plus-a-sector'):
            with self.subTest(name):
                raw, _ = self.make_case(name)
                vhd = self.path(name + '.full.vhd')
                result = convert(raw, vhd, allocate_all=True)
                self.assertEqual(result.allocated_blocks,
                                 result.virtual_size // BLOCK)
                base.qemu_compare(self, raw, vhd)
                self.assertReaderMatches(raw, vhd)

    def test_fixed_and_back(self) -> None:
        for name in ('scattered', 'one-sector', 'fully-random', 'all-holes'):
            with self.subTest(name):
                raw, _ = self.make_case(name)
                fixed = self.path(name + '.fixed.vhd')
                convert(raw, fixed, target_format='fixed')
                base.qemu_compare(self, raw, fixed)
                self.assertReaderMatches(raw, fixed)
                back = self.path(name + '.back.raw')
                convert(fixed, back, target_format='raw')
                with open(raw, 'rb') as a, open(back, 'rb') as b:
                    self.assertEqual(a.read(), b.read())

    def test_dynamic_to_raw_and_fixed(self) -> None:
        raw, _ = self.make_case('straddling-blocks')
        vhd = self.path('s.vhd')
        convert(raw, vhd)
        back = self.path('s.back.raw')
        convert(vhd, back, target_format='raw')
        with open(raw, 'rb') as a, open(back, 'rb') as b:
            self.assertEqual(a.read(), b.read())
        fixed = self.path('s.fixed.vhd')
        convert(vhd, fixed, target_format='fixed')
        base.qemu_compare(self, raw, fixed)

    def test_empty_64_gib_sparse_file(self) -> None:
        raw = base.make_raw(self.path('big.raw'), 64 * GiB)
        vhd = self.path('big.vhd')
        result = convert(raw, vhd)
        self.assertEqual(result.allocated_blocks, 0)
        self.assertEqual(result.virtual_size, 64 * GiB)
        # Metadata only: 32768 BAT entries (128 KiB), batmap, two footers.
        self.assertLess(os.path.getsize(vhd), 200 * 1024)
        base.qemu_compare(self, raw, vhd)
        with VhdImage(vhd) as image:
            self.assertEqual(list(image.data_extents()), [])
            self.assertEqual(image.read(64 * GiB - 4096, 4096), bytes(4096))


class TestForeignVhds(base.TempDirTestCase):
    """VHDs written by qemu-img are read, and re-laid as XenServer disks."""

    def qemu_vhd(self, raw: str, subformat: str, force_size: bool) -> str:
        base.require_qemu_img(self)
        out = self.path(f'qemu-{subformat}-{force_size}.vhd')
        options = f'subformat={subformat}'
        if force_size:
            options += ',force_size=on'
        result = base.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vpc',
                           '-o', options, raw, out])
        self.assertEqual(result.returncode, 0, result.stderr)
        return out

    def test_relay_qemu_made_disks(self) -> None:
        size, writes, _ = CASES['scattered']
        raw = base.make_raw(self.path('in.raw'), size, writes)
        for subformat in ('dynamic', 'fixed'):
            for force_size in (False, True):
                with self.subTest(subformat=subformat, force_size=force_size):
                    made = self.qemu_vhd(raw, subformat, force_size)
                    xen = self.path(f'xen-{subformat}-{force_size}.vhd')
                    result = convert(made, xen)
                    self.assertEqual(result.source_format, subformat)
                    base.qemu_compare(self, raw, xen)
                    with VhdImage(xen) as image:
                        self.assertEqual(image.footer.creator, 'tap')
                        self.assertIsNotNone(image.batmap_header)
                    # The reader agrees with qemu on the qemu-made disk.
                    back = self.path('back.raw')
                    result = base.run(['qemu-img', 'convert', '-f', 'vpc',
                                       '-O', 'raw', made, back])
                    self.assertEqual(result.returncode, 0, result.stderr)
                    with VhdImage(made) as image, open(back, 'rb') as handle:
                        expected = handle.read()
                        self.assertEqual(image.size, len(expected))
                        self.assertEqual(image.read(0, image.size), expected)
