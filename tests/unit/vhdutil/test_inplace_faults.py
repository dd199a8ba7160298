"""In-place ``vhd-util convert`` (0 -> 1, 1 -> 0) under real faults.

Each run either finishes (exit 0, OUT holds the converted bytes, IN's name
is gone) or leaves IN exactly as it was: same name, size and bytes, and
nothing at OUT.  The faults are real: a file-size limit (``prlimit``, which
makes ``pwrite`` write short, then fail with EFBIG), a full tmpfs, OUT on
another file system or across a bind mount (EXDEV), a directory at OUT, a
symbolic link at IN, and SIGINT/SIGTERM delivered by ``strace`` on entry to
each system call of the work.  Every case runs in both modes: the default
and ``DIB_VHD_SYNC=1`` (which adds the flushes to the work).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from typing import List

from diskimage_vhd.format import constants as c
from tests import base
from tests.unit.test_crash_safety import dense_raw
from tests.unit.test_crash_safety import digest
from tests.unit.test_crash_safety import fixed_vhd
from tests.unit.test_crash_safety import SYNC_ENVIRON
from tests.unit.test_crash_safety import VHD_UTIL

MiB = base.MiB
SIZE = 4 * MiB
# A length that is not whole sectors, so 0 -> 1 pads as well.
ODD = SIZE - 100
# System calls of the in-place work (and of the old code) that a signal
# is delivered on.
WORK_CALLS = ('pwrite64', 'pwritev', 'rename', 'renameat', 'renameat2',
              'ftruncate', 'truncate', 'fsync', 'fdatasync')


def _default_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


class InPlaceFaultTest(base.TempDirTestCase):

    SYNC = False  # a subclass with True runs in the durable mode

    def setUp(self) -> None:
        super().setUp()
        self.disk = self.path('disk')

    def vhd_util(self, *args: str, prefix: List[str] = ()
                 ) -> subprocess.CompletedProcess:
        environ = dict(os.environ, PYTHONDONTWRITEBYTECODE='1',
                       **(SYNC_ENVIRON if self.SYNC else {}))
        return base.run(list(prefix) + VHD_UTIL + ['convert', *args],
                        env=environ, preexec_fn=_default_signals)

    def raw_to_fixed(self, target: str, prefix: List[str] = ()
                     ) -> subprocess.CompletedProcess:
        return self.vhd_util('-s', '0', '-t', '1', '-i', self.disk, '-o',
                             target, prefix=prefix)

    def fixed_to_raw(self, target: str, prefix: List[str] = ()
                     ) -> subprocess.CompletedProcess:
        return self.vhd_util('-s', '1', '-t', '0', '-i', self.disk, '-o',
                             target, prefix=prefix)

    def mount(self, *args: str) -> str:
        if os.geteuid() != 0:
            self.skipTest('mounting needs root')
        mountpoint = self.path(f'mnt{len(os.listdir(self.tmp))}')
        os.mkdir(mountpoint)
        result = base.run(['mount', *args, mountpoint])
        if result.returncode:
            self.skipTest(f'cannot mount: {result.stderr.strip()}')
        self.addCleanup(base.run, ['umount', '-l', mountpoint])
        return mountpoint

    def assertKept(self, size: int, before: str, *absent: str) -> None:
        """IN as it was: its name, size and bytes; nothing at ``absent``."""
        self.assertEqual(os.path.getsize(self.disk), size)
        self.assertEqual(digest(self.disk), before)
        for path in absent:
            self.assertFalse(os.path.lexists(path), path)


class RawToFixedFaultTest(InPlaceFaultTest):

    def setUp(self) -> None:
        super().setUp()
        dense_raw(self.disk, SIZE)
        os.truncate(self.disk, ODD)
        self.before = digest(self.disk)

    def test_short_write_under_a_file_size_limit_is_not_success(self) -> None:
        """The padding and footer (612 bytes) meet a limit 300 bytes on:
        ``pwrite`` writes 300 and returns; the rest fails with EFBIG.
        """
        out = self.path('disk.vhd')
        result = self.raw_to_fixed(out, ['prlimit', f'--fsize={ODD + 300}'])
        self.assertOneLine(result, self.disk, 'too large', 'left as it was')
        self.assertKept(ODD, self.before, out)

    def test_file_size_limit_at_the_end_of_the_input(self) -> None:
        out = self.path('disk.vhd')
        result = self.raw_to_fixed(out, ['prlimit', f'--fsize={ODD}'])
        self.assertOneLine(result, 'too large')
        self.assertKept(ODD, self.before, out)

    def test_directory_at_out(self) -> None:
        out = self.path('disk.vhd')
        os.mkdir(out)
        result = self.raw_to_fixed(out)
        self.assertOneLine(result, out, 'is a directory')
        self.assertKept(ODD, self.before)
        self.assertEqual(os.listdir(out), [])

    def test_out_on_another_file_system(self) -> None:
        out = os.path.join(self.mount('-t', 'tmpfs', 'tmpfs'), 'disk.vhd')
        result = self.raw_to_fixed(out)
        self.assertOneLine(result, out, 'another file system')
        self.assertKept(ODD, self.before, out)

    def test_rename_refused_across_a_bind_mount(self) -> None:
        """Same file system (same st_dev), yet rename(2) fails with EXDEV:
        only found after the footer is written, which is then cut off.
        """
        out = os.path.join(self.mount('--bind', self.tmp), 'disk.vhd')
        result = self.raw_to_fixed(out)
        self.assertOneLine(result, 'cross-device', 'left as it was')
        self.assertKept(ODD, self.before, self.path('disk.vhd'))

    def test_symbolic_link_is_refused(self) -> None:
        link = self.path('link')
        os.symlink(self.disk, link)
        result = self.vhd_util('-s', '0', '-t', '1', '-i', link, '-o',
                               self.path('disk.vhd'))
        self.assertOneLine(result, link, 'symbolic link')
        self.assertKept(ODD, self.before, self.path('disk.vhd'))
        self.assertEqual(os.readlink(link), self.disk)

    def test_full_file_system_mid_footer(self) -> None:
        """ENOSPC on a real tmpfs, the input one page short of full."""
        small = self.mount('-t', 'tmpfs', '-o', 'size=8m', 'tmpfs')
        self.disk = os.path.join(small, 'disk')
        dense_raw(self.disk, SIZE)
        filler = os.open(os.path.join(small, 'filler'),
                         os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(filler, bytes(4096)):
                pass
        except OSError:
            pass
        finally:
            os.close(filler)
        before = digest(self.disk)
        result = self.raw_to_fixed(self.disk)
        self.assertOneLine(result, 'no space left on device', 'left as it')
        self.assertKept(SIZE, before)

    def test_signal_at_every_step(self) -> None:
        """SIGINT or SIGTERM on entry to each system call of the work."""
        for call in WORK_CALLS:
            for signum in (signal.SIGINT, signal.SIGTERM):
                with self.subTest(call=call, signal=signum.name):
                    self.run_signalled(call, signum)

    def run_signalled(self, call: str, signum: signal.Signals) -> None:
        for name in os.listdir(self.tmp):
            os.unlink(self.path(name))
        dense_raw(self.disk, SIZE)
        os.truncate(self.disk, ODD)
        out = self.path('disk.vhd')
        result = self.raw_to_fixed(out, strace(call, signum))
        assertFinishedOrKept(self, result, self.disk, out, ODD, self.before,
                             -(-ODD // 512) * 512 + c.FOOTER_SIZE)


class FixedToRawFaultTest(InPlaceFaultTest):

    def setUp(self) -> None:
        super().setUp()
        fixed_vhd(self.disk, SIZE)
        self.before = digest(self.disk)
        self.size = SIZE + c.FOOTER_SIZE

    def test_directory_at_out(self) -> None:
        out = self.path('disk.raw')
        os.mkdir(out)
        result = self.fixed_to_raw(out)
        self.assertOneLine(result, out, 'is a directory')
        self.assertKept(self.size, self.before)

    def test_out_on_another_file_system(self) -> None:
        out = os.path.join(self.mount('-t', 'tmpfs', 'tmpfs'), 'disk.raw')
        result = self.fixed_to_raw(out)
        self.assertOneLine(result, out, 'another file system')
        self.assertKept(self.size, self.before, out)

    def test_rename_refused_across_a_bind_mount(self) -> None:
        out = os.path.join(self.mount('--bind', self.tmp), 'disk.raw')
        result = self.fixed_to_raw(out)
        self.assertOneLine(result, 'cross-device', 'left as it was')
        self.assertKept(self.size, self.before, self.path('disk.raw'))

    def test_symbolic_link_is_refused(self) -> None:
        link = self.path('link')
        os.symlink(self.disk, link)
        result = self.vhd_util('-s', '1', '-t', '0', '-i', link, '-o',
                               self.path('disk.raw'))
        self.assertOneLine(result, link, 'symbolic link')
        self.assertKept(self.size, self.before, self.path('disk.raw'))

    def test_finishes(self) -> None:
        out = self.path('disk.raw')
        result = self.fixed_to_raw(out)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertFalse(os.path.exists(self.disk))
        self.assertEqual(digest(out),
                         digest(dense_raw(self.path('expected'), SIZE)))

    def test_signal_at_every_step(self) -> None:
        for call in WORK_CALLS:
            for signum in (signal.SIGINT, signal.SIGTERM):
                with self.subTest(call=call, signal=signum.name):
                    for name in os.listdir(self.tmp):
                        os.unlink(self.path(name))
                    fixed_vhd(self.disk, SIZE)
                    out = self.path('disk.raw')
                    result = self.fixed_to_raw(out, strace(call, signum))
                    assertFinishedOrKept(self, result, self.disk, out,
                                         self.size, self.before, SIZE)


class RawToFixedSyncFaultTest(RawToFixedFaultTest):
    """The same, with ``DIB_VHD_SYNC=1``."""

    SYNC = True


class FixedToRawSyncFaultTest(FixedToRawFaultTest):
    """The same, with ``DIB_VHD_SYNC=1``."""

    SYNC = True


def strace(call: str, signum: signal.Signals) -> List[str]:
    """Run under strace, which sends ``signum`` on entry to ``call``."""
    path = shutil.which('strace')
    if path is None:
        raise AssertionError('strace is not installed (apt-get install '
                             'strace): it delivers the signals')
    return [path, '-f', '-qq', '-o', '/dev/null', '-e',
            f'inject={call}:signal={signum.name}']


def assertFinishedOrKept(test: InPlaceFaultTest,
                         result: subprocess.CompletedProcess, source: str,
                         target: str, size: int, before: str,
                         finished_size: int) -> None:
    """Either it finished and says so, or IN is untouched and it says so."""
    test.assertNotIn('Traceback', result.stderr)
    if result.returncode == 0:
        test.assertFalse(os.path.exists(source))
        test.assertEqual(os.path.getsize(target), finished_size)
        return
    test.assertIn(result.returncode, (130, 143), result.stderr)
    test.assertIn('nothing was written', result.stderr)
    test.assertKept(size, before, target)
