"""``size``: the disk the user means, not the size another tool chose.

qemu-img rounds a 4 GiB disk up to a whole CHS geometry; converted with
``size`` 4 GiB it is a 4 GiB disk again.  Larger adds zeros; smaller is
refused where it would cut data.  qemu-img is the referee of the content.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from diskimage_vhd import assess
from diskimage_vhd import check
from diskimage_vhd import convert
from diskimage_vhd.errors import UsageError
from diskimage_vhd.errors import VhdError
from diskimage_vhd.format import constants as c
from diskimage_vhd.make.stream import measure
from tests import base

GiB = 1024 ** 3
MiB = base.MiB
STAMP = dict(timestamp=1700000000, unique_id=uuid.UUID(int=7))


class TestSize(base.TempDirTestCase):

    def test_qemu_made_disk_keeps_the_size_meant(self) -> None:
        qemu = base.require_qemu_img(self)
        raw = base.make_raw(self.path('in.raw'), 4 * GiB,
                            [(100 * MiB, base.random_bytes(MiB))])
        made = self.path('qemu.vhd')
        result = base.run([qemu, 'convert', '-f', 'raw', '-O', 'vpc', raw,
                           made])
        self.assertEqual(result.returncode, 0, result.stderr)
        plain = convert(made, self.path('plain.vhd'))
        self.assertGreater(plain.virtual_size, 4 * GiB)  # CHS round-up
        out = self.path('out.vhd')
        result = convert(made, out, size=4 * GiB, **STAMP)
        self.assertEqual(result.virtual_size, 4 * GiB)
        # Byte for byte the disk the raw image converts to directly.
        convert(raw, self.path('direct.vhd'), **STAMP)
        with open(out, 'rb') as f, open(self.path('direct.vhd'), 'rb') as g:
            self.assertEqual(f.read(), g.read())
        self.assertEqual(os.path.getsize(out),
                         measure(made, size=4 * GiB).file_size)
        self.assertTrue(check(out).valid)
        self.assertEqual(assess(out, 'xenserver')
                         .image_properties['min_disk'], 4)
        base.qemu_compare(self, raw, out)

    def test_growing_adds_zeros(self) -> None:
        raw = base.make_raw(self.path('in.raw'), 4 * MiB,
                            [(MiB, base.random_bytes(MiB))])
        for target, virtual in (('dynamic', 10 * MiB), ('fixed', 9 * MiB + 512),
                                ('raw', 9 * MiB + 1)):
            with self.subTest(target=target):
                out = self.path(f'out.{target}')
                result = convert(raw, out, target_format=target, size=virtual)
                self.assertEqual(result.virtual_size, virtual)
                with open(out, 'rb') as f:
                    data = f.read(virtual)
                with open(raw, 'rb') as f:
                    expected = f.read().ljust(virtual, b'\0')
                if target == 'dynamic':
                    base.qemu_compare(self, raw, out)
                else:
                    self.assertEqual(data, expected)
                    self.assertEqual(os.path.getsize(out), virtual + (
                        c.FOOTER_SIZE if target == 'fixed' else 0))

    def test_shrinking_over_zeros_only(self) -> None:
        # Data up to 3 MiB, then written zeros and a hole: cut at 4 MiB.
        raw = base.make_raw(self.path('in.raw'), 64 * MiB,
                            [(2 * MiB, base.random_bytes(MiB)),
                             (3 * MiB, bytes(8 * MiB))])
        out = self.path('out.vhd')
        self.assertEqual(convert(raw, out, size=4 * MiB).virtual_size,
                         4 * MiB)
        with open(raw, 'rb') as f:
            head = base.make_raw(self.path('head.raw'), 4 * MiB,
                                 [(0, f.read(4 * MiB))])
        base.qemu_compare(self, head, out)

    def test_cutting_data_is_refused(self) -> None:
        raw = base.make_raw(self.path('in.raw'), 64 * MiB,
                            [(40 * MiB + 7, b'x')])
        for entry, kwargs in ((convert, {'destination': self.path('o.vhd')}),
                              (measure, {})):
            with self.subTest(entry=entry.__name__):
                with self.assertRaises(VhdError) as caught:
                    entry(raw, size=40 * MiB, **kwargs)
                self.assertEqual(caught.exception.path, raw)
                self.assertIn(f'holds data at byte {40 * MiB + 7}, past the '
                              f'{40 * MiB} bytes asked for',
                              caught.exception.problem)
        self.assertEqual(sorted(os.listdir(self.tmp)), ['in.raw'])
        # Just past the data, it fits.
        convert(raw, self.path('o.vhd'), target_format='raw',
                size=40 * MiB + 8)
        self.assertEqual(os.path.getsize(self.path('o.vhd')), 40 * MiB + 8)
        with self.assertRaises(UsageError):
            convert(raw, self.path('z.vhd'), size=0)

    def test_command_and_stream_agree(self) -> None:
        raw = base.make_raw(self.path('in.raw'), 6 * MiB,
                            [(0, base.random_bytes(MiB))])
        out = self.path('out.vhd')
        args = ['--size', '3M', '--timestamp', '1700000000', '--uuid',
                str(STAMP['unique_id'])]
        result = base.run_module('diskimage_vhd', 'convert', '-q', *args,
                                 raw, out)
        self.assertEqual(result.returncode, 0, result.stderr)
        streamed = subprocess.run(
            [sys.executable, '-m', 'diskimage_vhd', 'convert', '-q', *args,
             raw, '-'], stdout=subprocess.PIPE, check=True)
        with open(out, 'rb') as f:
            written = f.read()
        self.assertEqual(streamed.stdout, written)
        self.assertEqual(convert(raw, self.path('api.vhd'), size=3 * MiB,
                                 **STAMP).virtual_size, 4 * MiB)
        with open(self.path('api.vhd'), 'rb') as f:
            self.assertEqual(f.read(), written)
        refused = base.run_module('diskimage_vhd', 'convert', '--size',
                                  '512K', raw, self.path('cut.vhd'))
        self.assertEqual(refused.returncode, 1)
        half = MiB // 2
        data = base.random_bytes(MiB)[half:]
        first = half + len(data) - len(data.lstrip(b'\0'))
        self.assertEqual(refused.stderr, f'diskimage-vhd: {raw}: holds data '
                         f'at byte {first}, past the {half} bytes asked for '
                         '(--size); refusing to cut it\n')
        self.assertFalse(os.path.exists(self.path('cut.vhd')))
