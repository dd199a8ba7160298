"""Inputs and outputs at the edges: empty, not files, moving, elsewhere.

Each is either a clear one-line error with nothing written, or a correct
image (checked by qemu-img); never a silently wrong one.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from typing import Callable, List, Optional

from tests import base
from tests.unit.test_crash_safety import CrashTestCase
from tests.unit.test_crash_safety import dense_raw
from tests.unit.test_crash_safety import digest
from tests.unit.test_crash_safety import DISKIMAGE_VHD
from tests.unit.test_crash_safety import SIGNAL_AFTER
from tests.unit.test_crash_safety import VHD_UTIL

MiB = base.MiB


class NotAFileTest(CrashTestCase):
    """Empty files, FIFOs and character devices as input."""

    def commands(self, path: str) -> List[List[str]]:
        out = self.path('out.vhd')
        return [DISKIMAGE_VHD + ['convert', '-q', path, out],
                DISKIMAGE_VHD + ['convert', '-q', '--from', 'raw', path, out],
                DISKIMAGE_VHD + ['convert', '-q', '--to', 'fixed', path, out],
                DISKIMAGE_VHD + ['info', path],
                VHD_UTIL + ['convert', '-s', '0', '-t', '1', '-i', path,
                            '-o', out],
                VHD_UTIL + ['convert', '-s', '1', '-t', '2', '-i', path,
                            '-o', out]]

    def assertRefusedEverywhere(self, path: str, *fragments: str) -> None:
        before = set(os.listdir(self.tmp))
        for argv in self.commands(path):
            with self.subTest(argv[3:]):
                result = base.run(argv, timeout=30)
                self.assertOneLine(result, *fragments)
                self.assertEqual(set(os.listdir(self.tmp)), before)
        for argv in (DISKIMAGE_VHD + ['check', path],
                     VHD_UTIL + ['check', '-n', path],
                     VHD_UTIL + ['read', '-p', '-n', path],
                     VHD_UTIL + ['query', '-n', path, '-v']):
            with self.subTest(argv[3:]):
                result = base.run(argv, timeout=30)
                self.assertNotEqual(result.returncode, 0)
                self.assertNotIn('Traceback', result.stderr)
                self.assertTrue((result.stdout + result.stderr).strip())

    def test_zero_length(self) -> None:
        empty = self.path('empty.raw')
        open(empty, 'wb').close()
        self.assertRefusedEverywhere(empty, 'empty.raw')
        self.assertEqual(os.path.getsize(empty), 0)

    def test_fifo_with_a_silent_writer_does_not_hang(self) -> None:
        fifo = self.path('fifo')
        os.mkfifo(fifo)
        # A writer that holds the FIFO open and never writes: a blocking
        # read would wait forever.
        writer = os.open(fifo, os.O_RDWR)
        self.addCleanup(os.close, writer)
        self.assertRefusedEverywhere(fifo, 'fifo', 'not a regular file')

    def test_fifo_without_a_writer_does_not_hang(self) -> None:
        """A plain open() of a FIFO waits for a writer that never comes."""
        fifo = self.path('fifo')
        os.mkfifo(fifo)
        self.assertRefusedEverywhere(fifo, 'fifo', 'not a regular file')

    def test_dev_zero(self) -> None:
        self.assertRefusedEverywhere('/dev/zero', '/dev/zero',
                                     'not a regular file')

    def test_dev_null(self) -> None:
        self.assertRefusedEverywhere('/dev/null', '/dev/null',
                                     'not a regular file')


class DestinationTest(CrashTestCase):
    """What is at the destination name is replaced only if it is a file."""

    def setUp(self) -> None:
        super().setUp()
        self.raw = dense_raw(self.path('in.raw'), 4 * MiB)

    def assertNotReplaced(self, target: str, kind: int) -> None:
        result = base.run(DISKIMAGE_VHD + ['convert', '-q', self.raw, target])
        self.assertOneLine(result, 'not a regular file')
        self.assertEqual(stat.S_IFMT(os.lstat(target).st_mode), kind)
        self.assertListing({'in.raw', os.path.basename(target)})

    def test_character_device_is_not_replaced(self) -> None:
        """``convert IN /dev/null`` as root must not replace /dev/null."""
        if os.geteuid() != 0:
            self.skipTest('mknod needs root')
        null = self.path('null')
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        self.assertNotReplaced(null, stat.S_IFCHR)

    def test_fifo_is_not_replaced(self) -> None:
        fifo = self.path('pipe')
        os.mkfifo(fifo)
        self.assertNotReplaced(fifo, stat.S_IFIFO)

    def test_vhd_util_does_not_rename_over_a_device(self) -> None:
        if os.geteuid() != 0:
            self.skipTest('mknod needs root')
        null = self.path('null')
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        before = digest(self.raw)
        result = base.run(VHD_UTIL + ['convert', '-s', '0', '-t', '1', '-i',
                                      self.raw, '-o', null])
        self.assertOneLine(result, 'not a regular file')
        self.assertTrue(stat.S_ISCHR(os.lstat(null).st_mode))
        self.assertEqual(digest(self.raw), before)
        self.assertListing({'in.raw', 'null'})

    def test_existing_file_is_replaced_whole(self) -> None:
        out = self.path('out.vhd')
        with open(out, 'wb') as handle:
            handle.write(b'old')
        result = base.run(DISKIMAGE_VHD + ['convert', '-q', self.raw, out])
        self.assertEqual(result.returncode, 0, result.stderr)
        base.qemu_compare(self, self.raw, out)


class OtherFileSystemTest(CrashTestCase):
    """Output on a tmpfs, input on the disk (and the other way round)."""

    def tmpfs(self) -> str:
        if os.geteuid() != 0:
            self.skipTest('mounting a tmpfs needs root')
        mountpoint = self.path('tmpfs')
        os.mkdir(mountpoint)
        result = base.run(['mount', '-t', 'tmpfs', '-o', 'size=64m', 'tmpfs',
                           mountpoint])
        if result.returncode:
            self.skipTest(f'cannot mount a tmpfs: {result.stderr.strip()}')
        self.addCleanup(base.run, ['umount', '-l', mountpoint])
        return mountpoint

    def test_output_on_tmpfs(self) -> None:
        raw = base.make_raw(self.path('in.raw'), 9 * MiB,
                            [(0, base.random_bytes(MiB)),
                             (5 * MiB, base.random_bytes(MiB, 1))])
        out = os.path.join(self.tmpfs(), 'out.vhd')
        result = base.run(DISKIMAGE_VHD + ['convert', '-q', raw, out])
        self.assertEqual(result.returncode, 0, result.stderr)
        base.qemu_compare(self, raw, out)
        self.assertEqual(os.listdir(os.path.dirname(out)), ['out.vhd'])

    def test_input_on_tmpfs_every_direction(self) -> None:
        where = self.tmpfs()
        raw = base.make_raw(os.path.join(where, 'in.raw'), 5 * MiB + 1536,
                            [(MiB, base.random_bytes(MiB, 2))])
        dynamic = self.path('d.vhd')
        fixed = self.path('f.vhd')
        back = os.path.join(where, 'back.raw')
        for argv in (['convert', '-q', raw, dynamic],
                     ['convert', '-q', '--to', 'fixed', dynamic, fixed],
                     ['convert', '-q', '--to', 'raw', fixed, back]):
            result = base.run(DISKIMAGE_VHD + argv)
            self.assertEqual(result.returncode, 0, result.stderr)
        base.qemu_compare(self, raw, fixed)
        with open(raw, 'rb') as a, open(back, 'rb') as b:
            self.assertEqual(a.read(), b.read()[:os.path.getsize(raw)])

    def test_vhd_util_across_file_systems(self) -> None:
        """0->1 renames, which cannot cross file systems: a clear error,
        the raw image left as it was; 1->2 writes across them fine.
        """
        raw = dense_raw(self.path('disk'), 4 * MiB)
        before = digest(raw)
        elsewhere = os.path.join(self.tmpfs(), 'disk.vhd')
        result = base.run(VHD_UTIL + ['convert', '-s', '0', '-t', '1', '-i',
                                      raw, '-o', elsewhere])
        self.assertOneLine(result, 'disk.vhd', 'cannot rename')
        self.assertEqual(digest(raw), before)
        self.assertFalse(os.path.exists(elsewhere))
        fixed = self.path('fixed')
        self.assertEqual(base.run(VHD_UTIL + [
            'convert', '-s', '0', '-t', '1', '-i', raw, '-o', fixed]
        ).returncode, 0)
        result = base.run(VHD_UTIL + ['convert', '-s', '1', '-t', '2', '-i',
                                      fixed, '-o', elsewhere])
        self.assertEqual(result.returncode, 0, result.stderr)
        result = base.run(['qemu-img', 'compare', '-f', 'vpc', '-F', 'vpc',
                           self.path('fixed.bak'), elsewhere])
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


class MovingInputTest(CrashTestCase):
    """An input that grows, shrinks or is rewritten mid-conversion: an error
    saying so, and no output, never an image of neither version.
    """

    def setUp(self) -> None:
        super().setUp()
        self.raw = dense_raw(self.path('in.raw'))
        self.out = self.path('out.vhd')

    def convert_while(self, change: Callable[[], object],
                      argv: Optional[List[str]] = None
                      ) -> subprocess.CompletedProcess:
        """Run a conversion and ``change`` the input once it is under way.

        The conversion is stopped (SIGSTOP) while the input changes, so the
        change falls in the middle of it however busy the machine is: a
        conversion left running finished first now and then.
        """
        argv = argv or DISKIMAGE_VHD + ['convert', '-q', self.raw, self.out]
        process = self.start(argv)
        deadline = time.monotonic() + 60
        while self.output_progress(process) < SIGNAL_AFTER:
            if process.poll() is not None:
                self.fail('finished before the input could be changed')
            self.assertLess(time.monotonic(), deadline, 'no progress')
            time.sleep(0.002)
        os.kill(process.pid, signal.SIGSTOP)
        if process.poll() is not None:
            self.fail('finished before the input could be changed')
        try:
            change()
        finally:
            os.kill(process.pid, signal.SIGCONT)
        out, err = process.communicate(timeout=120)
        return subprocess.CompletedProcess(argv, process.returncode, out, err)

    def test_shrinks(self) -> None:
        result = self.convert_while(lambda: os.truncate(self.raw, 64 * MiB))
        self.assertOneLine(result, 'in.raw', 'changed')
        self.assertListing({'in.raw'})

    def test_shrinks_to_a_hole(self) -> None:
        """Cut, then grown back as a hole: the size is what it was, but the
        data beyond the cut is gone, so the image would be of neither.
        """
        def cut_and_regrow() -> None:
            size = os.path.getsize(self.raw)
            os.truncate(self.raw, 64 * MiB)
            os.truncate(self.raw, size)
        result = self.convert_while(cut_and_regrow)
        self.assertOneLine(result, 'in.raw', 'changed')
        self.assertListing({'in.raw'})

    def test_grows(self) -> None:
        def grow() -> None:
            with open(self.raw, 'ab') as handle:
                handle.write(b'\1' * MiB)
        result = self.convert_while(grow)
        self.assertOneLine(result, 'in.raw', 'changed')
        self.assertListing({'in.raw'})

    def test_rewritten_in_place(self) -> None:
        """Same size, new bytes at the start (already converted)."""
        def rewrite() -> None:
            with open(self.raw, 'r+b') as handle:
                handle.write(b'\2' * 4096)
        result = self.convert_while(rewrite)
        self.assertOneLine(result, 'in.raw', 'changed')
        self.assertListing({'in.raw'})

    def test_vhd_source_shrinks(self) -> None:
        fixed = self.path('in.vhd')
        os.rename(self.raw, fixed)
        self.raw = fixed
        result = base.run(VHD_UTIL + ['convert', '-s', '0', '-t', '1', '-i',
                                      fixed, '-o', fixed])
        self.assertEqual(result.returncode, 0, result.stderr)
        result = self.convert_while(
            lambda: os.truncate(fixed, 64 * MiB),
            DISKIMAGE_VHD + ['convert', '-q', fixed, self.out])
        self.assertOneLine(result, 'in.vhd')
        self.assertListing({'in.vhd'})

    def test_unchanged_input_still_converts(self) -> None:
        """The checks do not refuse an input that merely was read."""
        result = self.convert_while(lambda: os.stat(self.raw))
        self.assertEqual(result.returncode, 0, result.stderr)
        base.qemu_compare(self, self.raw, self.out)
