"""What the commands say: one line naming the file or variable, JSON when
asked, each subcommand's usage on --help.  Through the real commands.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Dict, Optional

from diskimage_vhd.format import constants as c
from diskimage_vhd.vhdutil import check
from diskimage_vhd.vhdutil import convert
from diskimage_vhd.vhdutil import create
from diskimage_vhd.vhdutil import query
from diskimage_vhd.vhdutil import read
from tests import base

GiB = 1024 ** 3


def vhd_util(*args: str, env: Optional[Dict[str, str]] = None
             ) -> subprocess.CompletedProcess:
    return base.run_module('diskimage_vhd.vhdutil', *args,
                           env=dict(os.environ, **(env or {})))


def diskimage_vhd(*args: str, env: Optional[Dict[str, str]] = None
                  ) -> subprocess.CompletedProcess:
    return base.run_module('diskimage_vhd', *args,
                           env=dict(os.environ, **(env or {})))


class MessageTestCase(base.TempDirTestCase):

    def assert_line(self, result: subprocess.CompletedProcess, status: int,
                    line: str) -> None:
        """Exit ``status`` and exactly ``line`` on stderr."""
        self.assertEqual((result.returncode, result.stderr),
                         (status, line + '\n'), result.stdout)


class MissingInputTest(MessageTestCase):

    def test_vhd_util_convert_names_the_file_plainly(self) -> None:
        missing = self.path('x')
        for pair in (('0', '1'), ('1', '2'), ('1', '0'), ('2', '1')):
            with self.subTest(pair=pair):
                result = vhd_util('convert', '-i', missing, '-o',
                                  self.path('y'), '-s', pair[0], '-t',
                                  pair[1])
                self.assert_line(result, 1, f'vhd-util: {missing}: no such '
                                            'file or directory')
        self.assertEqual(os.listdir(self.tmp), [])


class EnvironmentTest(MessageTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.raw = base.make_raw(self.path('in.raw'), 4 * base.MiB,
                                 [(0, b'data')])

    def fixed(self) -> str:
        """A fixed VHD made by the 0 -> 1 step, as DIB makes it."""
        fixed = self.path('in.vhd')
        result = vhd_util('convert', '-i', self.raw, '-o', fixed, '-s', '0',
                          '-t', '1')
        self.assertEqual(result.returncode, 0, result.stderr)
        return fixed

    def test_source_date_epoch_not_a_number(self) -> None:
        line = ("SOURCE_DATE_EPOCH: 'abc' is not a Unix time (whole seconds "
                'since 1970-01-01 UTC)')
        result = diskimage_vhd('convert', self.raw, self.path('out.vhd'),
                               env={'SOURCE_DATE_EPOCH': 'abc'})
        self.assert_line(result, 2, 'diskimage-vhd: ' + line)
        result = vhd_util('convert', '-i', self.raw, '-o', self.path('f.vhd'),
                          '-s', '0', '-t', '1',
                          env={'SOURCE_DATE_EPOCH': 'abc'})
        self.assert_line(result, 2, 'vhd-util: ' + line)
        self.assertEqual(sorted(os.listdir(self.tmp)), ['in.raw'])
        self.assertEqual(os.path.getsize(self.raw), 4 * base.MiB)

    def test_allocate_all_must_be_on_or_off(self) -> None:
        fixed = self.fixed()
        before = os.path.getsize(fixed)
        result = vhd_util('convert', '-i', fixed, '-o', self.path('d.vhd'),
                          '-s', '1', '-t', '2',
                          env={'DIB_VHD_ALLOCATE_ALL': 'maybe'})
        self.assert_line(result, 2, "vhd-util: DIB_VHD_ALLOCATE_ALL: 'maybe' "
                                    'is neither on (1, true, yes, on) nor '
                                    'off (unset, 0, false, no, off)')
        # Refused before anything was renamed or written.
        self.assertEqual(sorted(os.listdir(self.tmp)), ['in.vhd'])
        self.assertEqual(os.path.getsize(fixed), before)

    def test_allocate_all_words(self) -> None:
        for word, blocks in (('Yes', 2), ('off', 1), ('', 1)):
            with self.subTest(word=word):
                fixed = self.fixed()
                out = self.path('d.vhd')
                result = vhd_util('convert', '-i', fixed, '-o', out, '-s',
                                  '1', '-t', '2',
                                  env={'DIB_VHD_ALLOCATE_ALL': word})
                self.assertEqual(result.returncode, 0, result.stderr)
                info = json.loads(diskimage_vhd('info', '--json', out).stdout)
                self.assertEqual(info['allocated_blocks'], blocks)
                os.rename(fixed + '.bak', self.raw)
                with open(self.raw, 'r+b') as handle:  # back to raw
                    handle.truncate(4 * base.MiB)


class SizeTest(MessageTestCase):

    def test_too_large_says_the_exact_numbers(self) -> None:
        size = c.MAX_VIRTUAL_SIZE + 1  # 2040 GiB and a byte, sparse
        raw = base.make_raw(self.path('big.raw'), size)
        blocks = -(-size // c.BLOCK_SIZE) * c.BLOCK_SIZE
        result = diskimage_vhd('convert', raw, self.path('big.vhd'))
        self.assert_line(result, 1, f'diskimage-vhd: {raw}: is {size} bytes; '
                                    'rounded up to whole 2 MiB blocks that '
                                    f'is {blocks}, past the '
                                    f'{c.MAX_VIRTUAL_SIZE} bytes (2040 GiB) '
                                    'a VHD holds')
        result = vhd_util('convert', '-i', raw, '-o', self.path('big.vhd'),
                          '-s', '0', '-t', '1')
        self.assert_line(result, 1, f'vhd-util: {raw}: is {size} bytes; '
                                    'rounded up to whole sectors that is '
                                    f'{size + 511}, past the '
                                    f'{c.MAX_VIRTUAL_SIZE} bytes (2040 GiB) '
                                    'a VHD holds')
        self.assertEqual(os.listdir(self.tmp), ['big.raw'])
        self.assertEqual(os.path.getsize(raw), size)

    def test_rounding_up_to_whole_blocks_is_said(self) -> None:
        raw = base.make_raw(self.path('in.raw'), 3 * base.MiB, [(0, b'x')])
        out = self.path('out.vhd')
        result = diskimage_vhd('convert', raw, out)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr.splitlines()[0],
                         f'diskimage-vhd: {raw}: 3145728 bytes is not a whole '
                         'number of 2 MiB blocks; the virtual size is rounded '
                         'up to 4194304 (the added tail reads as zeros)')
        # What it says is what qemu-img sees.
        info = json.loads(base.run(['qemu-img', 'info', '--output=json',
                                    '-f', 'vpc', out]).stdout)
        self.assertEqual(info['virtual-size'], 4 * base.MiB)
        quiet = diskimage_vhd('convert', '-q', raw, self.path('q.vhd'))
        self.assertEqual((quiet.returncode, quiet.stderr), (0, ''))

    def test_whole_blocks_say_nothing_of_rounding(self) -> None:
        raw = base.make_raw(self.path('in.raw'), 4 * base.MiB, [(0, b'x')])
        result = diskimage_vhd('convert', raw, self.path('out.vhd'))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn('rounded', result.stderr)


class InfoCheckTest(MessageTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.vhd = self.path('a.vhd')
        raw = base.make_raw(self.path('a.raw'), 4 * base.MiB, [(0, b'x')])
        result = diskimage_vhd('convert', '-q', raw, self.vhd)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.missing = self.path('nope')

    def test_info_several_files(self) -> None:
        result = diskimage_vhd('info', self.vhd, self.path('a.raw'))
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertIn(self.vhd, lines)
        self.assertIn(self.path('a.raw'), lines)
        self.assertIn('  format:           dynamic', lines)
        self.assertIn('  format:           raw', lines)

    def test_info_goes_on_past_a_bad_file(self) -> None:
        result = diskimage_vhd('info', self.missing, self.vhd)
        self.assert_line(result, 1, f'diskimage-vhd: {self.missing}: no such '
                                    'file or directory')
        self.assertEqual(result.stdout.splitlines()[0], self.vhd)

    def test_info_json_errors(self) -> None:
        plain = diskimage_vhd('info', self.missing)
        result = diskimage_vhd('info', '--json', self.missing)
        self.assertEqual((result.returncode, result.stderr),
                         (plain.returncode, ''))
        self.assertEqual(json.loads(result.stdout),
                         {'path': self.missing, 'exit_code': 1,
                          'error': 'no such file or directory'})
        result = diskimage_vhd('info', '--json', self.missing, self.vhd)
        self.assertEqual((result.returncode, result.stderr), (1, ''))
        listed = json.loads(result.stdout)
        self.assertEqual([item['path'] for item in listed],
                         [self.missing, self.vhd])
        self.assertEqual(listed[0]['error'], 'no such file or directory')
        self.assertEqual(listed[1]['format'], 'dynamic')

    def test_check_json_errors(self) -> None:
        plain = diskimage_vhd('check', self.missing)
        result = diskimage_vhd('check', '--json', self.missing)
        self.assertEqual((result.returncode, result.stderr),
                         (plain.returncode, ''))
        self.assertNotEqual(result.returncode, 0)
        self.assertEqual(json.loads(result.stdout),
                         {'path': self.missing,
                          'exit_code': plain.returncode,
                          'error': 'no such file or directory'})


class NotAVhdTest(MessageTestCase):
    """Files that are no VHD at all: one problem, said the same way with
    and without --for, with the reason beside XenServer's words.
    """

    def setUp(self) -> None:
        super().setUp()
        self.text = self.path('text.txt')
        with open(self.text, 'w') as f:
            f.write('hello\n')
        self.long_text = self.path('long.txt')
        with open(self.long_text, 'w') as f:
            f.write(''.join(f'{n}\n' for n in range(2000)))
        self.empty = self.path('empty')
        open(self.empty, 'w').close()
        whole = self.path('whole.vhd')
        raw = base.make_raw(self.path('a.raw'), 8 * base.MiB,
                            [(0, base.random_bytes(base.MiB))])
        self.assertEqual(diskimage_vhd('convert', '-q', raw,
                                       whole).returncode, 0)
        self.truncated = self.path('truncated.vhd')
        with open(whole, 'rb') as f, open(self.truncated, 'wb') as out:
            out.write(f.read(base.MiB))
        self.directory = self.path('dir')
        os.mkdir(self.directory)

    def test_plain_check_says_why(self) -> None:
        for path, why in (
                (self.text, '(6 bytes is too small for a VHD)'),
                (self.empty, '(0 bytes is too small for a VHD)'),
                (self.long_text, 'it is not a VHD, or a VHD cut short'),
                (self.truncated, 'it is not a VHD, or a VHD cut short')):
            with self.subTest(path=path):
                result = diskimage_vhd('check', path)
                self.assertEqual(result.returncode, 22, result.stderr)
                line, = result.stdout.splitlines()
                self.assertTrue(line.startswith(f'{path} is invalid: '), line)
                self.assertIn(why, line)
                # XenServer's words stay first, as vhd-util prints them.
                xen = vhd_util('check', '-n', path).stdout.splitlines()[0]
                self.assertIn(f'is invalid: {xen} (', line)

    def test_for_gives_the_one_problem(self) -> None:
        for path in (self.text, self.empty, self.long_text, self.truncated,
                     self.directory):
            with self.subTest(path=path):
                result = diskimage_vhd('check', '--for', 'rackspace', path)
                self.assertEqual((result.returncode, result.stderr),
                                 (22, ''))
                problem, verdict = result.stdout.splitlines()
                self.assertRegex(problem, r'^problem: vhd-util check fails: '
                                          r'.*\[vhd-util-check\]$')
                self.assertEqual(verdict, f'{path} is not ready for '
                                          'rackspace: 1 problem '
                                          '(vhd-util-check)')
                report = json.loads(diskimage_vhd(
                    'check', '--for', 'rackspace', '--json', path).stdout)
                self.assertEqual(
                    (report['warnings'], report['notes'],
                     report['image_properties']), ([], [], {}))

    def test_same_exit_status_with_and_without_for(self) -> None:
        for path in (self.text, self.empty, self.truncated, self.directory,
                     self.path('missing')):
            plain = diskimage_vhd('check', path).returncode
            for target in ('xenserver', 'rackspace'):
                with self.subTest(path=path, target=target):
                    self.assertEqual(
                        diskimage_vhd('check', '--for', target,
                                      path).returncode, plain)
        self.assertEqual(diskimage_vhd('check', self.directory).returncode,
                         22)


class SubcommandHelpTest(MessageTestCase):

    def test_help_prints_the_subcommands_usage(self) -> None:
        for name, usage in (('convert', convert.USAGE), ('check', check.USAGE),
                            ('read', read.USAGE), ('query', query.USAGE),
                            ('create', create.USAGE)):
            for flag in ('-h', '--help'):
                with self.subTest(name=name, flag=flag):
                    result = vhd_util(name, flag)
                    self.assertEqual((result.returncode, result.stdout,
                                      result.stderr), (0, usage + '\n', ''))
