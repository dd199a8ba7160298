"""One definition of readable: what check passes, info and convert read.

XenServer's ``vhd-util check`` looks only at the BAT entries of whole 2 MiB
blocks (``current_size >> 21``); a disk whose last, partial block points
past the end of the file passes it, yet cannot be read.  ``vhd-util
check`` keeps XenServer's verdict; ``diskimage-vhd check`` says why the
disk cannot be read, in the words ``info`` and ``convert`` use.
"""

from __future__ import annotations

import os
import struct

from diskimage_vhd import check
from diskimage_vhd import convert
from diskimage_vhd.errors import InvalidVhdError
from diskimage_vhd.image.reader import VhdImage
from diskimage_vhd import inspect
from diskimage_vhd.xen.check import check as vhd_util_check
from tests import base
from tests.unit.test_crash_safety import DISKIMAGE_VHD
from tests.unit.test_crash_safety import fixed_vhd
from tests.unit.test_crash_safety import VHD_UTIL

MiB = base.MiB


class QemuPartialBlockTest(base.TempDirTestCase):
    """A qemu-made disk whose partial last block points past the end."""

    def setUp(self) -> None:
        super().setUp()
        base.require_qemu_img(self)
        raw = base.make_raw(self.path('in.raw'), 7 * MiB,
                            [(100, b'x'), (6 * MiB + 4096, b'hello')])
        self.vhd = self.path('qemu.vhd')
        made = base.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vpc', raw,
                         self.vhd])
        self.assertEqual(made.returncode, 0, made.stderr)
        with VhdImage(self.vhd) as image:
            # qemu sizes the disk by its geometry: 7 MiB and a bit, so
            # block 3 is partial and beyond what libvhd looks at.
            self.assertEqual(image.footer.current_size >> 21, 3)
            self.assertNotEqual(image.bat[3], 0xFFFFFFFF)
            table = image.header.table_offset
        with open(self.vhd, 'r+b') as handle:
            handle.seek(table + 3 * 4)
            handle.write(struct.pack('>I', 0x100000))
        self.words = 'block 3 (sector 1048576) runs past the end of the file'

    def test_vhd_util_check_keeps_xenservers_verdict(self) -> None:
        self.assertTrue(vhd_util_check(self.vhd).valid)
        result = base.run(VHD_UTIL + ['check', '-n', self.vhd])
        self.assertEqual(result.returncode, 0, result.stdout)

    def test_check_info_and_convert_agree(self) -> None:
        report = check(self.vhd)
        self.assertFalse(report.valid)
        self.assertEqual(report.error, self.words)
        self.assertEqual(report.problem.code, 'unreadable-block-past-end')
        with self.assertRaises(InvalidVhdError) as refused:
            inspect(self.vhd)
        self.assertEqual(refused.exception.problem, self.words)
        self.assertEqual(refused.exception.kind, 'block-past-end')
        with self.assertRaises(InvalidVhdError) as refused:
            convert(self.vhd, self.path('out.vhd'))
        self.assertEqual(refused.exception.problem, self.words)

    def test_through_the_commands(self) -> None:
        result = base.run(DISKIMAGE_VHD + ['check', self.vhd])
        self.assertEqual(result.returncode, 22)
        self.assertIn(f'is invalid: {self.words}', result.stdout)
        for command in ('info', 'convert'):
            argv = [command, self.vhd] + (
                [self.path('out.vhd')] if command == 'convert' else [])
            result = base.run(DISKIMAGE_VHD + argv)
            self.assertEqual(result.returncode, 22, result.stderr)
            self.assertEqual(result.stderr.strip(),
                             f'diskimage-vhd: {self.vhd}: {self.words}')


class AliasedBlocksTest(base.TempDirTestCase):
    """BAT entries that share one block: a small file must not convert to a
    huge disk of the same bytes again and again.
    """

    def test_refused_with_checks_words(self) -> None:
        raw = base.make_raw(self.path('in.raw'), 6 * MiB,
                            [(0, b'a' * 4096), (4 * MiB, b'b' * 4096)])
        vhd = self.path('in.vhd')
        convert(raw, vhd)
        with VhdImage(vhd) as image:
            table, first = image.header.table_offset, image.bat[0]
        with open(vhd, 'r+b') as handle:
            handle.seek(table + 4)  # block 1 -> block 0's sectors
            handle.write(struct.pack('>I', first))
        report = check(vhd)
        words = f'block 0 (offset 0x{first:x}) clobbers block 1 ' \
                f'(offset 0x{first:x})'
        self.assertEqual(report.error, words)
        with self.assertRaises(InvalidVhdError) as refused:
            convert(vhd, self.path('out.raw'), target_format='raw')
        self.assertEqual(refused.exception.problem, words)
        self.assertEqual(refused.exception.kind, 'block-overlap')


class FixedLengthMismatchTest(base.TempDirTestCase):
    """A fixed disk whose data is shorter or longer than its footer says.

    XenServer's vhd-util check never compares them; such a disk used to
    pass ``diskimage-vhd check`` and convert silently to another size.
    """

    def fixed(self, name: str, change: int) -> str:
        """A 1 MiB fixed VHD, then ``change`` bytes of data cut or added."""
        path = fixed_vhd(self.path(name), MiB)
        with open(path, 'rb') as handle:
            data = handle.read()
        data, footer = data[:-512], data[-512:]
        data = data[:MiB + change] if change < 0 else data + b'z' * change
        with open(path, 'wb') as handle:
            handle.write(data + footer)
        return path

    def test_shorter_and_longer_are_refused_everywhere(self) -> None:
        for change in (-512, -MiB // 2, 512, 4096):
            vhd = self.fixed(f'{change}.vhd', change)
            words = (f'fixed disk holds {MiB + change} bytes of data, but '
                     f'its footer says {MiB}')
            with self.subTest(change=change):
                self.assertTrue(vhd_util_check(vhd).valid)
                result = base.run(VHD_UTIL + ['check', '-n', vhd])
                self.assertEqual(result.returncode, 0, result.stdout)
                report = check(vhd)
                self.assertEqual(report.error, words)
                self.assertEqual(report.problem.code,
                                 'unreadable-fixed-size-mismatch')
                with self.assertRaises(InvalidVhdError) as refused:
                    inspect(vhd)
                self.assertEqual(refused.exception.kind,
                                 'fixed-size-mismatch')
                self.assertEqual(refused.exception.problem, words)
                result = base.run(DISKIMAGE_VHD + ['check', vhd])
                self.assertEqual(result.returncode, 22)
                self.assertIn(f'is invalid: {words}', result.stdout)
                for target in ('raw', 'fixed', 'dynamic'):
                    out = self.path(f'out.{target}')
                    result = base.run(DISKIMAGE_VHD + [
                        'convert', '-q', '--to', target, vhd, out])
                    self.assertEqual(result.returncode, 22, result.stderr)
                    self.assertEqual(result.stderr.strip(),
                                     f'diskimage-vhd: {vhd}: {words}')
                    self.assertFalse(os.path.exists(out))

    def test_exact_length_still_reads(self) -> None:
        vhd = self.fixed('exact.vhd', 0)
        self.assertTrue(check(vhd).valid)
        out = self.path('out.raw')
        convert(vhd, out, target_format='raw')
        self.assertEqual(os.path.getsize(out), MiB)
