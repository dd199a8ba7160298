"""vhd-util create writes libvhd's empty disks byte for byte."""

from __future__ import annotations

import os

from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.xen.check import check
from tests import base

MODULE = 'diskimage_vhd.vhdutil'


class TestCreate(base.TempDirTestCase):

    def create(self, *args: str, env=None):
        environ = {key: value for key, value in os.environ.items()
                   if key != 'SOURCE_DATE_EPOCH'}
        environ.update(env or {})
        return base.run_module(MODULE, 'create', *args, cwd=self.tmp,
                               env=environ)

    def read(self, name: str) -> bytes:
        with open(self.path(name), 'rb') as handle:
            return handle.read()

    def test_reproduces_empty_100m(self) -> None:
        result = self.create(
            '-n', 'e.vhd', '-s', '100', '--uuid',
            str(base.FIXTURE_UUIDS['empty-100m.vhd']),
            env={'SOURCE_DATE_EPOCH': str(base.FIXTURE_UNIX_TIMESTAMP)})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, '')
        self.assertEqual(self.read('e.vhd'),
                         base.read_fixture('empty-100m.vhd'))

    def test_reproduces_metadata_preallocation(self) -> None:
        result = self.create(
            '-S', '2048', '-n', 'e.vhd', '-s', '100',
            '--timestamp', str(base.FIXTURE_UNIX_TIMESTAMP),
            '--uuid', str(base.FIXTURE_UUIDS['empty-100m-S2048.vhd']))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.read('e.vhd'),
                         base.read_fixture('empty-100m-S2048.vhd'))

    def test_size_rounds_up_to_blocks_and_is_valid(self) -> None:
        self.assertEqual(self.create('-n', 'odd.vhd', '-s', '5').returncode, 0)
        footer = Footer.parse(self.read('odd.vhd')[-512:])
        self.assertEqual(footer.current_size, 6 * 1024 * 1024)
        report = check(self.path('odd.vhd'), check_bitmaps=True)
        self.assertTrue(report.valid, report.error)
        self.assertEqual(report.warnings, [])

    def test_reserved_fixed_disk(self) -> None:
        result = self.create('-n', 'f.vhd', '-s', '3', '-r')
        self.assertEqual(result.returncode, 0, result.stderr)
        data = self.read('f.vhd')
        self.assertEqual(len(data), 2 * base.BLOCK + 512)
        self.assertEqual(data[:-512], bytes(2 * base.BLOCK))
        footer = Footer.parse(data[-512:])
        self.assertEqual(footer.disk_type, c.DISK_TYPE_FIXED)
        self.assertEqual(footer.current_size, 2 * base.BLOCK)
        self.assertTrue(check(self.path('f.vhd')).valid)

    def test_metadata_smaller_than_the_disk(self) -> None:
        result = self.create('-n', 'e.vhd', '-s', '100', '-S', '50')
        self.assertEqual(result.returncode, 22)
        self.assertEqual(result.stdout,
                         'Error: <-S size> must be greater than <-s size>\n')
        self.assertFalse(os.path.exists(self.path('e.vhd')))

    def test_usage(self) -> None:
        for args in (('-s', '100'), ('-n', 'e.vhd'), ('-n', 'e.vhd', '-s',
                                                      '1', 'extra')):
            with self.subTest(args=args):
                result = self.create(*args)
                self.assertEqual(result.returncode, 22)
                self.assertIn('options: <-n name> <-s size (MB)>',
                              result.stdout)

    def test_errors_are_one_line(self) -> None:
        for args in (('-n', 'no/dir/e.vhd', '-s', '1'),
                     ('-n', 'e.vhd', '-s', '3000000')):
            with self.subTest(args=args):
                result = self.create(*args)
                self.assertNotEqual(result.returncode, 0)
                self.assertEqual(len(result.stderr.splitlines()), 1,
                                 result.stderr)
                self.assertIn('e.vhd', result.stderr)
