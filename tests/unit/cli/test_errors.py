"""Every error path through the real command: one line, non-zero, nothing lost."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

from tests import base


def digest(path: str) -> str:
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


class CommandErrorTestCase(base.TempDirTestCase):

    def run_cli(self, *args: str) -> subprocess.CompletedProcess:
        return base.run_module('diskimage_vhd', *args)

    def assertOneLineError(self, result: subprocess.CompletedProcess,
                           *fragments: str) -> None:
        self.assertNotEqual(result.returncode, 0)
        self.assertNotIn('Traceback', result.stderr)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(lines[0].startswith('diskimage-vhd: '), lines[0])
        for fragment in fragments:
            self.assertIn(fragment, lines[0])

    def assertNothingAt(self, directory: str, allowed: set) -> None:
        self.assertEqual(set(os.listdir(directory)), allowed)

    def mount_tmpfs(self, options: str) -> str:
        if os.geteuid() != 0:
            self.skipTest('mounting a small tmpfs needs root')
        mountpoint = self.path('mnt-' + options.replace(',', '-'))
        os.mkdir(mountpoint)
        result = base.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs',
                           mountpoint])
        if result.returncode != 0:
            self.skipTest(f'cannot mount tmpfs here: {result.stderr.strip()}')
        self.addCleanup(base.run, ['umount', '-l', mountpoint])
        return mountpoint


class TestConvertErrors(CommandErrorTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.raw = base.make_raw(self.path('in.raw'), 8 * base.MiB,
                                 [(0, base.random_bytes(3 * base.MiB))])
        self.before = digest(self.raw)

    def tearDown(self) -> None:
        self.assertEqual(digest(self.raw), self.before, 'input was changed')
        super().tearDown()

    def test_missing_input(self) -> None:
        missing = self.path('nope.raw')
        result = self.run_cli('convert', missing, self.path('out.vhd'))
        self.assertOneLineError(result, missing, 'no such file')
        self.assertNothingAt(self.tmp, {'in.raw'})

    def test_directory_input(self) -> None:
        result = self.run_cli('convert', self.tmp, self.path('out.vhd'))
        self.assertOneLineError(result, self.tmp, 'is a directory')
        self.assertNothingAt(self.tmp, {'in.raw'})

    def test_fifo_input(self) -> None:
        fifo = self.path('fifo')
        os.mkfifo(fifo)
        result = self.run_cli('convert', fifo, self.path('out.vhd'))
        self.assertOneLineError(result, fifo, 'not a regular file')
        self.assertNothingAt(self.tmp, {'in.raw', 'fifo'})

    def test_unreadable_input(self) -> None:
        if os.geteuid() == 0:
            self.skipTest('root reads files whatever their mode')
        locked = shutil.copy(self.raw, self.path('locked.raw'))
        os.chmod(locked, 0)
        result = self.run_cli('convert', locked, self.path('out.vhd'))
        self.assertOneLineError(result, locked, 'permission denied')

    def test_missing_destination_directory(self) -> None:
        out = self.path('no/such/dir/out.vhd')
        result = self.run_cli('convert', self.raw, out)
        self.assertOneLineError(result, out, 'directory does not exist')

    def test_read_only_destination_directory(self) -> None:
        mountpoint = self.mount_tmpfs('ro,size=1M')
        out = os.path.join(mountpoint, 'out.vhd')
        result = self.run_cli('convert', self.raw, out)
        self.assertOneLineError(result, out, 'read-only file system')
        self.assertEqual(os.listdir(mountpoint), [])

    def test_disk_full(self) -> None:
        mountpoint = self.mount_tmpfs('size=1M')
        out = os.path.join(mountpoint, 'out.vhd')
        result = self.run_cli('convert', self.raw, out)
        self.assertOneLineError(result, out, 'no space left on device')
        self.assertEqual(os.listdir(mountpoint), [])

    def test_source_is_destination(self) -> None:
        result = self.run_cli('convert', self.raw, self.raw)
        self.assertOneLineError(result, self.raw, 'is the source itself')
        link = self.path('link.raw')
        os.symlink(self.raw, link)
        result = self.run_cli('convert', self.raw, link)
        self.assertOneLineError(result, link, 'is a symbolic link')

    def test_bad_options(self) -> None:
        cases = [
            (('--max-size', 'lots'), 'not a size'),
            (('--max-size', '4T'), 'beyond the 2 TiB'),
            (('--max-size', '4M'), 'smaller than the disk'),
            (('--uuid', 'nope'), 'not a UUID'),
            (('--timestamp', 'yesterday'), 'neither Unix seconds nor ISO'),
            (('--timestamp', '4102444800'), 'in the future'),
            (('--timestamp', '12'), 'counts seconds from 2000'),
            # Times are named as typed, with the Unix seconds they mean.
            (('--timestamp', '2100-01-01'), 'timestamp 2100-01-01 '
             '(4102444800 in Unix seconds) is in the future'),
            (('--timestamp', '1990-01-01T00:00:00Z'), 'timestamp '
             '1990-01-01T00:00:00Z (631152000 in Unix seconds) cannot be '
             'stored'),
            (('--to', 'raw', '--allocate-all'), 'only to --to dynamic'),
        ]
        for options, fragment in cases:
            with self.subTest(options):
                result = self.run_cli('convert', *options, self.raw,
                                      self.path('out.vhd'))
                self.assertOneLineError(result, fragment)
                self.assertNothingAt(self.tmp, {'in.raw'})

    def test_future_source_date_epoch(self) -> None:
        result = base.run_module(
            'diskimage_vhd', 'convert', self.raw, self.path('out.vhd'),
            env=dict(os.environ, SOURCE_DATE_EPOCH='4102444800'))
        self.assertOneLineError(result, 'SOURCE_DATE_EPOCH', 'in the future')

    def test_existing_destination_survives_a_failure(self) -> None:
        out = self.path('out.vhd')
        with open(out, 'wb') as handle:
            handle.write(b'precious')
        result = self.run_cli('convert', '--uuid', 'bad', self.raw, out)
        self.assertOneLineError(result)
        with open(out, 'rb') as handle:
            self.assertEqual(handle.read(), b'precious')


class TestCorruptVhdInputs(CommandErrorTestCase):
    """Corrupt VHDs are refused by convert and info with what is wrong."""

    def corrupt(self, name: str, offset: int, data: bytes,
                truncate: int = 0) -> str:
        path = self.path(name)
        shutil.copy(base.fixture('mixed.sparse.vhd'), path)
        os.chmod(path, 0o644)
        with open(path, 'r+b') as handle:
            if data:
                handle.seek(offset)
                handle.write(data)
            if truncate:
                handle.truncate(truncate)
        return path

    def test_corruptions(self) -> None:
        size = os.path.getsize(base.fixture('mixed.sparse.vhd'))
        cases = [
            ('bad-footer-checksum.vhd', size - 512 + 64, b'\0\0\0\0', 0,
             'footer has an invalid checksum'),
            ('bad-header-checksum.vhd', 512 + 36, b'\0\0\0\0', 0,
             'header has an invalid checksum'),
            ('bad-header-cookie.vhd', 512, b'xxsparse', 0,
             'header has an invalid cookie'),
            ('bat-past-end.vhd', 1536 + 8, b'\x00\x10\x00\x00', 0,
             'block 2 (sector 1048576) runs past the end of the file'),
            ('truncated.vhd', 0, b'', 3 * base.MiB,
             'block 2 (sector 4111) runs past the end of the file'),
            ('tiny.vhd', 0, b'', 100, 'too small'),
        ]
        for name, offset, data, truncate, message in cases:
            with self.subTest(name):
                path = self.corrupt(name, offset, data, truncate)
                before = digest(path)
                for command in (('convert', path, self.path('out.vhd')),
                                ('info', path)):
                    result = self.run_cli(*command)
                    self.assertOneLineError(result, path, message)
                    self.assertFalse(os.path.exists(self.path('out.vhd')))
                self.assertEqual(digest(path), before)

    def test_not_a_vhd_is_treated_as_raw_by_convert_only_when_declared(self) -> None:
        raw = base.make_raw(self.path('plain.raw'), base.MiB, [(0, b'x')])
        result = self.run_cli('convert', '--from', 'vhd', raw,
                              self.path('out.vhd'))
        self.assertOneLineError(result, raw, 'not a VHD')
