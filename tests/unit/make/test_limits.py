"""Limits and consistency: 2040 GiB for every target, no nil UUID, and
inputs too small for a footer converted as the raw data they are."""

from __future__ import annotations

import os

from diskimage_vhd.format import constants as c
from tests import base
from tests.unit.test_crash_safety import DISKIMAGE_VHD
from tests.unit.test_crash_safety import fixed_vhd
from tests.unit.test_crash_safety import VHD_UTIL

NIL = '00000000-0000-0000-0000-000000000000'


class LimitTest(base.TempDirTestCase):

    def test_every_target_stops_at_2040_gib(self) -> None:
        """A sparse raw one sector over: refused before anything is written."""
        raw = base.make_raw(self.path('big.raw'),
                            c.MAX_VIRTUAL_SIZE + c.SECTOR_SIZE, [(0, b'x')])
        for target in ('raw', 'fixed', 'dynamic'):
            with self.subTest(target):
                result = base.run(DISKIMAGE_VHD + [
                    'convert', '-q', '--to', target, raw,
                    self.path('out')])
                self.assertOneLine(result, raw, '(2040 GiB) a VHD holds')
                self.assertEqual(os.listdir(self.tmp), ['big.raw'])

    def test_2040_gib_itself_converts_to_fixed(self) -> None:
        raw = base.make_raw(self.path('big.raw'), c.MAX_VIRTUAL_SIZE,
                            [(c.MAX_VIRTUAL_SIZE - 3, b'end')])
        out = self.path('out.vhd')
        result = base.run(DISKIMAGE_VHD + ['convert', '-q', '--to', 'fixed',
                                           raw, out])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(os.path.getsize(out),
                         c.MAX_VIRTUAL_SIZE + c.FOOTER_SIZE)
        with open(out, 'rb') as handle:
            handle.seek(c.MAX_VIRTUAL_SIZE - 3)
            self.assertEqual(handle.read(3), b'end')

    def test_nil_uuid_is_refused(self) -> None:
        raw = base.make_raw(self.path('disk'), base.MiB, [(0, b'x')])
        fixed = fixed_vhd(self.path('fixed'), base.MiB)
        commands = [
            DISKIMAGE_VHD + ['convert', '--uuid', NIL, raw,
                             self.path('out.vhd')],
            DISKIMAGE_VHD + ['convert', '--to', 'fixed', '--uuid', NIL, raw,
                             self.path('out.vhd')],
            VHD_UTIL + ['convert', '-s', '0', '-t', '1', '-i', raw, '-o',
                        self.path('out.vhd'), '--uuid', NIL],
            VHD_UTIL + ['convert', '-s', '1', '-t', '2', '-i', fixed, '-o',
                        self.path('out.vhd'), '--uuid', NIL],
        ]
        for argv in commands:
            with self.subTest(argv[3:]):
                result = base.run(argv)
                self.assertOneLine(result, 'nil UUID')
                self.assertEqual(result.returncode, 2)
                self.assertEqual(sorted(os.listdir(self.tmp)),
                                 ['disk', 'fixed'])
                self.assertEqual(os.path.getsize(raw), base.MiB)

    def test_inputs_under_a_sector_are_raw(self) -> None:
        for size in (1, 100, 510, 511):
            raw = base.make_raw(self.path(f'{size}.raw'), size,
                                [(0, base.random_bytes(size, seed=size))])
            for target in ('fixed', 'dynamic', 'raw'):
                with self.subTest(size=size, target=target):
                    out = self.path(f'{size}-out.{target}')
                    result = base.run(DISKIMAGE_VHD + [
                        'convert', '--to', target, raw, out])
                    self.assertEqual(result.returncode, 0, result.stderr)
                    self.assertNotIn('Traceback', result.stderr)
                    base.qemu_compare(self, raw, out,
                                      'raw' if target == 'raw' else 'vpc')
                    if target == 'fixed':
                        self.assertIn(f'padded with zeros to {c.SECTOR_SIZE}',
                                      result.stderr)
                        self.assertEqual(os.path.getsize(out),
                                         c.SECTOR_SIZE + c.FOOTER_SIZE)
            info = base.run(DISKIMAGE_VHD + ['info', '--json', raw])
            self.assertEqual(info.returncode, 0, info.stderr)
            self.assertIn('"format": "raw"', info.stdout)
