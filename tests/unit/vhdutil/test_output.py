"""vhd-util check, read and query print what XenServer's vhd-util prints."""

from __future__ import annotations

import os
import shutil
import struct

from tests import base

MODULE = 'diskimage_vhd.vhdutil'
DYNAMIC = ('empty-100m', 'empty-100m-S2048', 'mixed.full', 'mixed.sparse',
           'mixed.prealloc')


class VhdUtilTestCase(base.TempDirTestCase):
    """Runs the real command in a scratch directory holding fixture copies."""

    def copy(self, name: str) -> str:
        path = self.path(name)
        shutil.copyfile(base.fixture(name), path)
        return path

    def vhd_util(self, *args: str, **kwargs):
        kwargs.setdefault('cwd', self.tmp)
        return base.run_module(MODULE, *args, **kwargs)


class TestFixtureTexts(VhdUtilTestCase):

    def assertPrintsTheFixtures(self, suffix: str, *command: str) -> None:
        """``vhd-util COMMAND... -n STEM.vhd`` prints ``STEM.SUFFIX``, the
        text libvhd's own vhd-util printed, for every dynamic fixture.
        """
        for stem in DYNAMIC:
            with self.subTest(stem=stem):
                self.copy(f'{stem}.vhd')
                result = self.vhd_util(*command, '-n', f'{stem}.vhd')
                self.assertEqual(result.returncode, 0,
                                 result.stderr + result.stdout)
                with open(base.fixture(f'{stem}.{suffix}')) as handle:
                    self.assertEqual(result.stdout, handle.read())

    def test_read_p_matches_the_fixtures(self) -> None:
        self.assertPrintsTheFixtures('read-p.txt', 'read', '-p')

    def test_query_matches_the_fixtures(self) -> None:
        for stem in DYNAMIC:
            with self.subTest(stem=stem):
                self.copy(f'{stem}.vhd')
                lines = []
                for flag in 'vsaSfdp':
                    result = self.vhd_util('query', '-n', f'{stem}.vhd',
                                           f'-{flag}')
                    self.assertEqual(result.returncode, 0, result.stderr)
                    lines.append(f'query -{flag}: '
                                 + result.stdout.replace('\n', '|'))
                with open(base.fixture(f'{stem}.query.txt')) as handle:
                    self.assertEqual('\n'.join(lines) + '\n', handle.read())

    def test_query_options_in_one_run_print_in_vhd_util_order(self) -> None:
        self.copy('mixed.prealloc.vhd')
        result = self.vhd_util('query', '-p', '-S', '-v', '-n',
                               'mixed.prealloc.vhd')
        self.assertEqual(result.stdout,
                         '6\nmixed.prealloc.vhd has no parent\n2048\n')

    def test_check_matches_the_fixtures(self) -> None:
        self.assertPrintsTheFixtures('check.txt', 'check', '-b')

    def test_check_accepts_vhd_utils_switches(self) -> None:
        self.copy('mixed.sparse.vhd')
        for flags in (('-p',), ('-i',), ('-t',), ('-B',), ('-I',),
                      ('-p', '-b', '-i', '-t')):
            with self.subTest(flags=flags):
                result = self.vhd_util('check', *flags, '-n',
                                       'mixed.sparse.vhd')
                self.assertEqual(result.stdout, 'mixed.sparse.vhd is valid\n')
                self.assertEqual(result.returncode, 0)

    def test_check_b_with_B_is_a_usage_error(self) -> None:
        self.copy('mixed.sparse.vhd')
        result = self.vhd_util('check', '-b', '-B', '-n', 'mixed.sparse.vhd')
        self.assertEqual(result.returncode, 22)
        self.assertIn('options: -n <file>', result.stdout)


class TestCheckFailures(VhdUtilTestCase):

    def test_invalid_disk_prints_the_problem_then_dumps(self) -> None:
        path = self.copy('mixed.sparse.vhd')
        with open(path, 'r+b') as handle:
            handle.seek(1536 + 8)
            handle.write(struct.pack('>I', 7 + 100))
        result = self.vhd_util('check', '-n', 'mixed.sparse.vhd')
        self.assertEqual(result.returncode, 22)
        lines = result.stdout.splitlines()
        self.assertEqual(lines[0], 'block 0 (offset 0x7) clobbers block 2 '
                                   '(offset 0x6b)')
        self.assertEqual(lines[1], 'mixed.sparse.vhd appears invalid; '
                                   'dumping metadata')
        self.assertEqual(lines[2], 'VHD Footer Summary:')
        self.assertEqual(result.stderr, '')

    def test_corrupt_footer(self) -> None:
        path = self.copy('mixed.sparse.vhd')
        with open(path, 'r+b') as handle:
            handle.seek(-512 + 64, os.SEEK_END)
            handle.write(b'\0\0\0\0')
        result = self.vhd_util('check', '-n', 'mixed.sparse.vhd')
        self.assertEqual(result.returncode, 22)
        self.assertEqual(result.stdout.splitlines()[0],
                         'primary footer invalid: invalid checksum')

    def test_missing_file_exits_2(self) -> None:
        result = self.vhd_util('check', '-n', 'nowhere.vhd')
        self.assertEqual(result.returncode, 2)
        self.assertEqual(result.stdout, 'cannot stat nowhere.vhd: 2\n')

    def test_directory(self) -> None:
        os.mkdir(self.path('dir'))
        result = self.vhd_util('check', '-n', 'dir')
        self.assertEqual(result.returncode, 22)
        self.assertEqual(result.stdout,
                         'dir is not a regular file or block device\n')

    def test_raw_file(self) -> None:
        self.copy('mixed.raw')
        # The dump shows whatever bytes sit where a footer should be.
        result = self.vhd_util('check', '-n', 'mixed.raw', errors='replace')
        self.assertEqual(result.returncode, 22)
        lines = result.stdout.splitlines()
        self.assertEqual(lines[0], 'primary footer invalid: invalid cookie')
        self.assertEqual(lines[2], 'Failed to open mixed.raw: -22')
        self.assertIn('mixed.raw appears invalid; dumping headers', lines)

    def test_valid_fixed_disk_prints_nothing(self) -> None:
        # vhd-util returns before its "is valid" line for a fixed disk.
        self.copy('mixed.fixed.vhd')
        result = self.vhd_util('check', '-n', 'mixed.fixed.vhd')
        self.assertEqual((result.returncode, result.stdout), (0, ''))


class TestReadAndQuery(VhdUtilTestCase):

    def test_read_of_a_fixed_disk_fails_as_vhd_util_does(self) -> None:
        self.copy('mixed.fixed.vhd')
        result = self.vhd_util('read', '-p', '-n', 'mixed.fixed.vhd')
        self.assertEqual(result.returncode, 22)
        self.assertEqual(result.stdout,
                         'Failed to get bat for mixed.fixed.vhd: -22\n')

    def test_read_bat_entries_and_sectors(self) -> None:
        self.copy('mixed.sparse.vhd')
        result = self.vhd_util('read', '-b', '0', '-c', '3', '-n',
                               'mixed.sparse.vhd')
        self.assertEqual(result.stdout, 'block: 0: offset: 3584\n'
                                        'block: 1: offset: not allocated\n'
                                        'block: 2: offset: 2104832\n')
        result = self.vhd_util('read', '-x', '-t', '4096', '-n',
                               'mixed.sparse.vhd')
        self.assertEqual(result.stdout,
                         'logical sector 0x1000: block number: 0x1, sector '
                         'offset: 0, file offset: not allocated\n')

    def test_read_hex_headers(self) -> None:
        self.copy('mixed.sparse.vhd')
        result = self.vhd_util('read', '-p', '-x', '-n', 'mixed.sparse.vhd')
        self.assertIn('Data offset         : 0x200\n', result.stdout)
        self.assertIn('Max BAT size        : 0x3\n', result.stdout)

    def test_read_option_not_provided(self) -> None:
        self.copy('mixed.sparse.vhd')
        result = self.vhd_util('read', '-m', '0', '-n', 'mixed.sparse.vhd')
        self.assertEqual(result.returncode, 22)
        self.assertIn('not provided by diskimage-vhd', result.stderr)

    def test_query_of_a_missing_file(self) -> None:
        result = self.vhd_util('query', '-v', '-n', 'nowhere.vhd')
        self.assertEqual(result.returncode, 2)
        self.assertEqual(result.stdout, 'error opening nowhere.vhd: -2\n')

    def test_query_of_a_fixed_disk(self) -> None:
        self.copy('mixed.fixed.vhd')
        result = self.vhd_util('query', '-v', '-s', '-a', '-S', '-n',
                               'mixed.fixed.vhd')
        # XenServer's vhd-util: a fixed disk has no BAT for -a to read.
        self.assertEqual(result.stdout,
                         '5\n5244928\nerror reading bat: -22\n0\n')
        self.assertEqual(result.returncode, 22)


class TestFrontEnd(VhdUtilTestCase):

    def test_version_names_diskimage_vhd(self) -> None:
        result = self.vhd_util('--version')
        self.assertEqual(result.returncode, 0)
        self.assertRegex(result.stdout, r'^vhd-util \(diskimage-vhd\) \S+\n$')

    def test_help_lists_the_subcommands(self) -> None:
        for args in ((), ('--help',)):
            result = self.vhd_util(*args)
            self.assertEqual(result.returncode, 0)
            self.assertIn('COMMAND := { convert | check | read | query | '
                          'create | target }', result.stdout)
            self.assertIn('Not provided: snapshot', result.stdout)

    def test_other_subcommands_are_refused(self) -> None:
        for name in ('resize', 'coalesce', 'bogus'):
            with self.subTest(name=name):
                result = self.vhd_util(name, '-n', 'x.vhd')
                self.assertEqual(result.returncode, 22)
                self.assertIn('diskimage-vhd', result.stderr)
                self.assertEqual(len(result.stderr.splitlines()), 1)
                self.assertNotIn('Traceback', result.stderr)

    def test_subcommand_help(self) -> None:
        result = self.vhd_util('convert', '-h')
        self.assertEqual(result.returncode, 0)
        self.assertIn('<-s source type>', result.stdout)
