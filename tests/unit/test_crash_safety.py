"""Interrupted, killed and starved conversions: nothing lost, nothing half-made.

A conversion big enough to be caught in the middle (256 MiB of dense data)
runs as a real process; the test waits until its output is tens of MiB
along, then sends SIGINT, SIGTERM or SIGKILL.  Afterwards the destination
name holds nothing, no temporary file is left (except the named fallback's
after SIGKILL, which cannot clean up), and the input is byte-identical.
Each case runs in both modes: the default (no flush) and durable
(``--sync``, ``DIB_VHD_SYNC=1``); the promise is the same in both.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import List, Optional

from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.posix.atomic import TEMPORARY_NAME
from tests import base

MiB = base.MiB
INPUT_SIZE = 256 * MiB
# The signal is sent once the output has this much data: mid-conversion.
SIGNAL_AFTER = 24 * MiB
# From the signal to the process's exit.
PROMPT_SECONDS = 5.0
# A child started without O_TMPFILE, as on a platform or Python lacking it:
# AtomicOutput then writes a named ".dvhd-XXXXXXXX.tmp" beside the output.
NO_TMPFILE = 'import os; del os.O_TMPFILE; '


def digest(path: str) -> str:
    hasher = hashlib.sha256()
    with open(path, 'rb') as handle:
        while True:
            chunk = handle.read(8 * MiB)
            if not chunk:
                return hasher.hexdigest()
            hasher.update(chunk)


def dense_raw(path: str, size: int = INPUT_SIZE) -> str:
    """Non-zero in every block, so every block is read and written."""
    chunk = base.random_bytes(MiB, seed=size)
    with open(path, 'wb') as handle:
        for _ in range(size // MiB):
            handle.write(chunk)
    return path


def fixed_vhd(path: str, size: int = INPUT_SIZE) -> str:
    """A dense fixed VHD, as ``vhd-util convert -s 0 -t 1`` leaves one."""
    dense_raw(path, size)
    footer = Footer.for_xenserver(c.DISK_TYPE_FIXED, size, 800000000,
                                  uuid.UUID(int=1).bytes)
    with open(path, 'ab') as handle:
        handle.write(footer.pack())
    return path


def entry(module: str, prefix: str = '') -> List[str]:
    """A console script's ``main``, run as its installed wrapper runs it."""
    return [sys.executable, '-c',
            f'{prefix}import sys; from {module} import main; sys.exit(main())']


DISKIMAGE_VHD = entry('diskimage_vhd.cli.commands')
VHD_UTIL = entry('diskimage_vhd.vhdutil.cli')
# The durable mode: the convert option, and the drop-in's variable.
SYNC_OPTION = '--sync'
SYNC_ENVIRON = {'DIB_VHD_SYNC': '1'}


def _default_sigint() -> None:
    # A parent that ignores SIGINT (nohup, a CI runner) would pass that on,
    # and Python then keeps ignoring it: give the child the usual handler.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class CrashTestCase(base.TempDirTestCase):
    """Runs in the default mode; a subclass setting ``SYNC`` in the
    durable one.
    """

    SYNC = False

    def mode(self, argv: List[str]) -> List[str]:
        """``argv`` in this class's mode (the drop-in's is its environment)."""
        if self.SYNC and 'diskimage_vhd.cli.commands' in argv[2]:
            return argv + [SYNC_OPTION]
        return argv

    def environ(self) -> dict:
        return dict(os.environ, **(SYNC_ENVIRON if self.SYNC else {}))

    def run_command(self, argv: List[str]) -> subprocess.CompletedProcess:
        return base.run(self.mode(argv), env=self.environ())

    def start(self, argv: List[str]) -> subprocess.Popen:
        process = subprocess.Popen(self.mode(argv), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True,
                                   preexec_fn=_default_sigint,
                                   env=self.environ())
        self.addCleanup(self._reap, process)
        return process

    @staticmethod
    def _reap(process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.kill()
        process.communicate()

    def output_progress(self, process: subprocess.Popen) -> int:
        """Bytes written so far to any file the process has open in tmp
        other than its inputs (an O_TMPFILE shows as "#INODE (deleted)").
        """
        fds = f'/proc/{process.pid}/fd'
        best = 0
        try:
            names = os.listdir(fds)
        except FileNotFoundError:
            return -1
        for name in names:
            try:
                target = os.readlink(os.path.join(fds, name))
                if not target.startswith(self.tmp) or os.path.isdir(target):
                    continue
                if not (target.endswith(('(deleted)', '.tmp'))
                        or 'out' in os.path.basename(target)):
                    continue
                best = max(best, os.stat(os.path.join(fds, name)).st_blocks
                           * 512)
            except OSError:
                continue
        return best

    def interrupt(self, argv: List[str], signum: int,
                  after: int = SIGNAL_AFTER) -> subprocess.CompletedProcess:
        """Start ``argv``, signal it mid-conversion, wait for it to end."""
        process = self.start(argv)
        deadline = time.monotonic() + 60
        while self.output_progress(process) < after:
            if process.poll() is not None:
                out, err = process.communicate()
                self.fail(f'finished before it could be interrupted '
                          f'({process.returncode}): {err}')
            self.assertLess(time.monotonic(), deadline, 'no progress')
            time.sleep(0.002)
        sent = time.monotonic()
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
        self.assertLess(time.monotonic() - sent, PROMPT_SECONDS,
                        'did not stop promptly')
        return subprocess.CompletedProcess(argv, process.returncode, out, err)

    def assertListing(self, expected: set, directory: Optional[str] = None
                      ) -> None:
        self.assertEqual(set(os.listdir(directory or self.tmp)), expected)


class ConvertInterruptTest(CrashTestCase):
    """``diskimage-vhd convert`` interrupted half-way."""

    def setUp(self) -> None:
        super().setUp()
        self.raw = dense_raw(self.path('in.raw'))
        self.before = digest(self.raw)
        self.out = self.path('out.vhd')

    def tearDown(self) -> None:
        self.assertEqual(digest(self.raw), self.before, 'the input changed')
        super().tearDown()

    def command(self, prefix: str = '') -> List[str]:
        return entry('diskimage_vhd.cli.commands', prefix) + [
            'convert', '-q', self.raw, self.out]

    def test_sigint(self) -> None:
        result = self.interrupt(self.command(), signal.SIGINT)
        self.assertEqual(result.returncode, 130)
        self.assertOneLine(result, 'interrupted')
        self.assertListing({'in.raw'})

    def test_sigterm(self) -> None:
        result = self.interrupt(self.command(), signal.SIGTERM)
        self.assertEqual(result.returncode, 143)
        self.assertOneLine(result, 'terminated')
        self.assertListing({'in.raw'})

    def test_sigkill_leaves_nothing_at_all(self) -> None:
        """An unnamed O_TMPFILE dies with the process."""
        result = self.interrupt(self.command(), signal.SIGKILL)
        self.assertEqual(result.returncode, -signal.SIGKILL)
        self.assertListing({'in.raw'})

    def test_sigterm_without_o_tmpfile_removes_the_named_temporary(self) -> None:
        result = self.interrupt(self.command(NO_TMPFILE), signal.SIGTERM)
        self.assertEqual(result.returncode, 143)
        self.assertListing({'in.raw'})

    def test_sigint_without_o_tmpfile_removes_the_named_temporary(self) -> None:
        result = self.interrupt(self.command(NO_TMPFILE), signal.SIGINT)
        self.assertEqual(result.returncode, 130)
        self.assertListing({'in.raw'})

    def test_sigkill_without_o_tmpfile_leaves_no_destination(self) -> None:
        """The fallback cannot clean up after SIGKILL, but what it leaves is
        a hidden temporary, never a file at the destination name.
        """
        result = self.interrupt(self.command(NO_TMPFILE), signal.SIGKILL)
        self.assertEqual(result.returncode, -signal.SIGKILL)
        self.assertFalse(os.path.exists(self.out))
        left = set(os.listdir(self.tmp)) - {'in.raw'}
        self.assertEqual(len(left), 1, left)
        self.assertRegex(left.pop(), f'^{TEMPORARY_NAME.pattern}$')

    def test_without_o_tmpfile_a_finished_conversion_is_whole(self) -> None:
        """The fallback path itself works: same image, nothing left over."""
        small = dense_raw(self.path('small.raw'), 8 * MiB)
        result = self.run_command(
            entry('diskimage_vhd.cli.commands', NO_TMPFILE)
            + ['convert', '-q', small, self.out])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertListing({'in.raw', 'small.raw', 'out.vhd'})
        base.qemu_compare(self, small, self.out)


class VhdUtilInterruptTest(CrashTestCase):
    """``vhd-util convert -s 1 -t 2`` interrupted: the input always survives
    as IN.bak, unchanged; OUT never appears half-written.
    """

    def setUp(self) -> None:
        super().setUp()
        self.fixed = fixed_vhd(self.path('disk'))
        self.before = digest(self.fixed)

    def command(self, out: str) -> List[str]:
        return VHD_UTIL + ['convert', '-s', '1', '-t', '2', '-i', self.fixed,
                           '-o', out]

    def assertInputSurvives(self, names: set, *where: str) -> None:
        self.assertListing(names)
        for name in where:
            self.assertEqual(digest(self.path(name)), self.before, name)

    def test_sigint_leaves_the_backup(self) -> None:
        result = self.interrupt(self.command(self.path('new.vhd')),
                                signal.SIGINT)
        self.assertEqual(result.returncode, 130)
        self.assertOneLine(result, 'interrupted')
        self.assertInputSurvives({'disk.bak'}, 'disk.bak')

    def test_sigterm_leaves_the_backup(self) -> None:
        result = self.interrupt(self.command(self.path('new.vhd')),
                                signal.SIGTERM)
        self.assertEqual(result.returncode, 143)
        self.assertInputSurvives({'disk.bak'}, 'disk.bak')

    def test_sigterm_in_place(self) -> None:
        """``-o`` = ``-i``, which the old tool allowed."""
        result = self.interrupt(self.command(self.fixed), signal.SIGTERM)
        self.assertEqual(result.returncode, 143)
        self.assertInputSurvives({'disk.bak'}, 'disk.bak')

    def test_sigkill_leaves_the_backup(self) -> None:
        result = self.interrupt(self.command(self.path('new.vhd')),
                                signal.SIGKILL)
        self.assertEqual(result.returncode, -signal.SIGKILL)
        self.assertInputSurvives({'disk.bak'}, 'disk.bak')

    def test_sigkill_in_place_leaves_the_backup(self) -> None:
        result = self.interrupt(self.command(self.fixed), signal.SIGKILL)
        self.assertEqual(result.returncode, -signal.SIGKILL)
        self.assertInputSurvives({'disk.bak'}, 'disk.bak')


class DiskFullTest(CrashTestCase):
    """ENOSPC mid-write: one line, no partial output, the input intact."""

    def mount_tmpfs(self, size: str) -> str:
        if os.geteuid() != 0:
            self.skipTest('mounting a small tmpfs needs root')
        mountpoint = self.path('small-fs')
        os.mkdir(mountpoint)
        result = base.run(['mount', '-t', 'tmpfs', '-o', f'size={size}',
                           'tmpfs', mountpoint])
        if result.returncode:
            self.skipTest(f'cannot mount a tmpfs: {result.stderr.strip()}')
        self.addCleanup(base.run, ['umount', '-l', mountpoint])
        return mountpoint

    def fill(self, directory: str) -> None:
        """Use up every free page, so the next write fails."""
        fd = os.open(os.path.join(directory, 'filler'),
                     os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b'\1' * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)

    def test_convert_to_a_full_file_system(self) -> None:
        raw = dense_raw(self.path('in.raw'), 32 * MiB)
        before = digest(raw)
        small = self.mount_tmpfs('8m')
        result = self.run_command(DISKIMAGE_VHD + [
            'convert', '-q', raw, os.path.join(small, 'out.vhd')])
        self.assertOneLine(result, 'out.vhd', 'no space left on device')
        self.assertListing(set(), small)
        self.assertEqual(os.statvfs(small).f_bfree,
                         os.statvfs(small).f_blocks, 'space not given back')
        self.assertEqual(digest(raw), before)

    def test_vhd_util_fixed_to_dynamic_on_a_full_file_system(self) -> None:
        small = self.mount_tmpfs('48m')
        fixed = fixed_vhd(os.path.join(small, 'disk'), 32 * MiB)
        before = digest(fixed)
        result = self.run_command(VHD_UTIL + [
            'convert', '-s', '1', '-t', '2', '-i', fixed, '-o',
            os.path.join(small, 'new')])
        self.assertOneLine(result, 'no space left on device',
                           'the input is kept as')
        self.assertListing({'disk.bak'}, small)
        self.assertEqual(digest(fixed + '.bak'), before)

    def test_vhd_util_raw_to_fixed_on_a_full_file_system(self) -> None:
        small = self.mount_tmpfs('8m')
        raw = dense_raw(os.path.join(small, 'disk'), 4 * MiB)
        before = digest(raw)
        self.fill(small)
        result = self.run_command(VHD_UTIL + [
            'convert', '-s', '0', '-t', '1', '-i', raw, '-o', raw])
        self.assertOneLine(result, 'no space left on device')
        self.assertEqual(os.path.getsize(raw), 4 * MiB)
        self.assertEqual(digest(raw), before)


class InPlaceTest(CrashTestCase):
    """``vhd-util convert -s 0 -t 1`` works in place, so it must not stack."""

    def test_second_raw_to_fixed_is_refused(self) -> None:
        raw = dense_raw(self.path('disk'), 4 * MiB)
        argv = VHD_UTIL + ['convert', '-s', '0', '-t', '1', '-i', raw,
                           '-o', raw]
        first = self.run_command(argv)
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertEqual(os.path.getsize(raw), 4 * MiB + 512)
        once = digest(raw)
        second = self.run_command(argv)
        self.assertOneLine(second, 'already ends in a VHD footer')
        self.assertEqual(digest(raw), once)
        self.assertListing({'disk'})

    def test_raw_to_fixed_renames_only_when_done(self) -> None:
        raw = dense_raw(self.path('disk'), 4 * MiB)
        result = self.run_command(VHD_UTIL + [
            'convert', '-s', '0', '-t', '1', '-i', raw, '-o',
            self.path('disk.vhd')])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertListing({'disk.vhd'})
        check = base.run(VHD_UTIL + ['check', '-n', self.path('disk.vhd')])
        self.assertEqual(check.returncode, 0, check.stdout)


class ConvertInterruptSyncTest(ConvertInterruptTest):
    """The same, with the output flushed (``convert --sync``)."""

    SYNC = True


class VhdUtilInterruptSyncTest(VhdUtilInterruptTest):
    """The same, with ``DIB_VHD_SYNC=1``."""

    SYNC = True


class DiskFullSyncTest(DiskFullTest):
    """The same, in the durable mode."""

    SYNC = True


class InPlaceSyncTest(InPlaceTest):
    """The same, with ``DIB_VHD_SYNC=1``."""

    SYNC = True
