"""Two in-place ``vhd-util convert`` runs on one file: nothing is lost.

Run twice at once, ``-s 0 -t 1`` cut the other run's output back through
its own descriptor (the output then read as raw, the input name gone), and
``-s 1 -t 2`` twice lost the original disk.  Each run now holds an
exclusive lock on its file for the whole step, and acts only while the
name still names the file it opened.  The "other run" here is played by
the test, holding the lock while it does that run's work; the referee is
qemu-img, comparing the result with the original raw bytes.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import shutil
import signal
import subprocess
import time

from diskimage_vhd import convert
from diskimage_vhd.posix import guard
from diskimage_vhd.vhdutil import cli
from tests import base
from tests.unit.test_crash_safety import digest
from tests.unit.test_crash_safety import VHD_UTIL

MiB = base.MiB


class InPlaceRaceTest(base.TempDirTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.raw = base.make_raw(self.path('original.raw'), 4 * MiB,
                                 [(0, base.random_bytes(MiB))])
        self.disk = self.path('disk')
        self.out = self.path('out')

    def hold(self, path: str) -> int:
        """The other run: an exclusive lock on ``path``, as it holds one."""
        fd = os.open(path, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def start(self, *args: str) -> subprocess.Popen:
        """A run that will find the file locked, once it has it open."""
        run = subprocess.Popen([*VHD_UTIL, 'convert', *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        self.addCleanup(_reap, run)
        wanted = os.stat(self.disk)
        while run.poll() is None and not _has_open(run.pid, wanted):
            time.sleep(0.01)  # a condition awaited, not a time asserted
        return run

    def test_raw_to_fixed_waits_and_leaves_the_other_output(self) -> None:
        shutil.copyfile(self.raw, self.disk)
        holder = self.hold(self.disk)
        run = self.start('-s', '0', '-t', '1', '-i', self.disk, '-o',
                         self.out)
        # The other run: footer added, renamed to OUT, lock released.
        convert(self.raw, self.path('fixed'), target_format='fixed')
        shutil.copyfile(self.path('fixed'), self.disk)
        os.rename(self.disk, self.out)
        os.close(holder)
        _, err = run.communicate()
        self.assertNotEqual(run.returncode, 0)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn(f'{self.disk}: was renamed or replaced by another run',
                      err)
        base.qemu_compare(self, self.raw, self.out)
        self.assertEqual(digest(self.out), digest(self.path('fixed')))

    def test_fixed_to_dynamic_twice_keeps_the_original(self) -> None:
        convert(self.raw, self.disk, target_format='fixed')
        before = digest(self.disk)
        holder = self.hold(self.disk)
        run = self.start('-s', '1', '-t', '2', '-i', self.disk, '-o',
                         self.out)
        os.rename(self.disk, self.disk + '.bak')  # the other run's step
        os.close(holder)
        _, err = run.communicate()
        self.assertNotEqual(run.returncode, 0)
        self.assertIn('was renamed or replaced by another run', err)
        self.assertEqual(digest(self.disk + '.bak'), before)
        self.assertFalse(os.path.exists(self.out))

    def test_a_lock_held_too_long_is_refused_in_one_line(self) -> None:
        shutil.copyfile(self.raw, self.disk)
        before = digest(self.disk)
        holder = self.hold(self.disk)
        self.addCleanup(os.close, holder)
        saved = guard.LOCK_WAIT
        guard.LOCK_WAIT = 0.0
        self.addCleanup(setattr, guard, 'LOCK_WAIT', saved)
        for argv in (['-s', '0', '-t', '1'], ['-s', '1', '-t', '2']):
            with self.subTest(argv=argv):
                err = io.StringIO()
                with contextlib.redirect_stderr(err), \
                        contextlib.redirect_stdout(io.StringIO()):
                    status = cli.main(['convert', *argv, '-i', self.disk,
                                       '-o', self.out])
                self.assertNotEqual(status, 0)
                self.assertIn('another run is working on this file',
                              err.getvalue())
                self.assertEqual(digest(self.disk), before)
                self.assertEqual(sorted(os.listdir(self.tmp)),
                                 ['disk', 'original.raw'])

    def test_every_check_comes_before_the_rename(self) -> None:
        convert(self.raw, self.disk, target_format='fixed')
        before = digest(self.disk)
        cases = [
            (['--timestamp', '\u00b2'], {}),
            (['--timestamp', '9' * 5000], {}),
            ([], {'SOURCE_DATE_EPOCH': '\u00b2'}),
            ([], {'DIB_VHD_MAX_SIZE': '1M'}),
        ]
        for extra, environ in cases:
            with self.subTest(extra=extra[:2], environ=environ):
                result = base.run(
                    [*VHD_UTIL, 'convert', '-s', '1', '-t', '2', '-i',
                     self.disk, '-o', self.out, *extra],
                    env=dict(os.environ, **environ))
                self.assertNotEqual(result.returncode, 0)
                self.assertNotIn('Traceback', result.stderr)
                self.assertEqual(len(result.stderr.strip().splitlines()), 1,
                                 result.stderr)
                self.assertEqual(digest(self.disk), before)
                self.assertEqual(sorted(os.listdir(self.tmp)),
                                 ['disk', 'original.raw'])

    def test_a_signal_after_the_backup_names_it(self) -> None:
        convert(self.raw, self.disk, target_format='fixed')
        before = digest(self.disk)
        strace = shutil.which('strace')
        self.assertIsNotNone(strace, 'strace delivers the signal')
        result = base.run([strace, '-f', '-qq', '-o', '/dev/null', '-e',
                           'inject=rename:signal=TERM:when=1', *VHD_UTIL,
                           'convert', '-s', '1', '-t', '2', '-i', self.disk,
                           '-o', self.out],
                          env=dict(os.environ, DIB_VHD_TARGET='none',
                                   PYTHONDONTWRITEBYTECODE='1'))
        self.assertEqual(result.returncode, 143, result.stderr)
        self.assertIn(f'terminated; {self.disk} is kept as {self.disk}.bak',
                      result.stderr)
        self.assertEqual(digest(self.disk + '.bak'), before)


def _has_open(pid: int, wanted: os.stat_result) -> bool:
    folder = f'/proc/{pid}/fd'
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    for name in names:
        try:
            found = os.stat(os.path.join(folder, name))
        except OSError:
            continue
        if (found.st_dev, found.st_ino) == (wanted.st_dev, wanted.st_ino):
            return True
    return False


def _reap(run: subprocess.Popen) -> None:
    if run.poll() is None:
        run.send_signal(signal.SIGKILL)
    run.communicate()
