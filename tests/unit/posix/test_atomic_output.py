"""Atomic outputs that never harm a bystander.

The temporary name is random and created exclusively, so a file already
there (a bystander, or what a killed run left) is neither hit nor removed;
it is short, so the longest destination name works; without ``/proc`` the
output is written to it from the start; a SIGKILL at the rename leaves at
most one recognisable temporary file; an existing destination's mode
carries over to its replacement when the file is the running user's, and
another user's file hands its owner nothing.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from typing import List

from diskimage_vhd import convert
from diskimage_vhd.posix.atomic import TEMPORARY_NAME
from tests import base
from tests.unit.test_crash_safety import DISKIMAGE_VHD
from tests.unit.test_crash_safety import entry
from tests.unit.test_crash_safety import NO_TMPFILE
from tests.unit.vhdutil.test_inplace_faults import strace

MiB = base.MiB
NAME_MAX = 255
# The system calls around the commit a signal is delivered on.
COMMIT_CALLS = ('fsync', 'fchmod', 'linkat', 'rename', 'renameat',
                'renameat2')
# O_TMPFILE or the named fallback, each in the default and durable modes.
MODES = [(prefix, sync) for prefix in ('', NO_TMPFILE)
         for sync in (False, True)]


def _default_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


class AtomicOutputTest(base.TempDirTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.raw = base.make_raw(self.path('in.raw'), 8 * MiB, [
            (0, base.random_bytes(MiB)), (5 * MiB, b'end')])
        self.out = self.path('out.vhd')

    def run_convert(self, destination: str, prefix: str = '',
                    wrapper: List[str] = (), sync: bool = False
                    ) -> subprocess.CompletedProcess:
        environ = dict(os.environ, PYTHONDONTWRITEBYTECODE='1')
        argv = entry('diskimage_vhd.cli.commands', prefix) + [
            'convert', '-q', self.raw, destination] + (
                ['--sync'] if sync else [])
        return base.run(list(wrapper) + argv, env=environ,
                        preexec_fn=_default_signals)

    def temporaries(self) -> List[str]:
        return [name for name in os.listdir(self.tmp)
                if TEMPORARY_NAME.fullmatch(name)]

    def test_a_file_at_the_old_temporary_name_is_left_alone(self) -> None:
        """As pid 1 in a container every run would have used this name."""
        bystander = self.path(f'.out.vhd.{os.getpid()}.tmp')
        with open(bystander, 'w') as handle:
            handle.write('not ours')
        convert(self.raw, self.out)
        base.qemu_compare(self, self.raw, self.out)
        with open(bystander) as handle:
            self.assertEqual(handle.read(), 'not ours')

    def test_leftovers_of_killed_runs_are_neither_hit_nor_removed(self) -> None:
        left = []
        for index in range(16):
            left.append(self.path(f'.dvhd-{index:08x}.tmp'))
            with open(left[-1], 'w') as handle:
                handle.write(str(index))
        for prefix in ('', NO_TMPFILE):
            with self.subTest(o_tmpfile=not prefix):
                result = self.run_convert(self.out, prefix)
                self.assertEqual(result.returncode, 0, result.stderr)
                base.qemu_compare(self, self.raw, self.out)
                self.assertEqual(sorted(self.temporaries()),
                                 sorted(os.path.basename(p) for p in left))

    def test_a_name_taken_meanwhile_is_tried_again(self) -> None:
        """The random source made to repeat a name that exists: the run
        takes the next name, and the file there is left alone.
        """
        taken = self.path('.dvhd-00000000.tmp')
        with open(taken, 'w') as handle:
            handle.write('not ours')
        repeat = ('from diskimage_vhd.posix import atomic; '
                  'names = iter([".dvhd-00000000.tmp", ".dvhd-00000000.tmp", '
                  '".dvhd-00000001.tmp"]); '
                  'atomic.temporary_name = lambda: next(names); ')
        for prefix in (repeat, NO_TMPFILE + repeat):
            with self.subTest(o_tmpfile=prefix == repeat):
                result = self.run_convert(self.out, prefix)
                self.assertEqual(result.returncode, 0, result.stderr)
                base.qemu_compare(self, self.raw, self.out)
                self.assertEqual(self.temporaries(), ['.dvhd-00000000.tmp'])
                with open(taken) as handle:
                    self.assertEqual(handle.read(), 'not ours')
        os.unlink(self.out)
        always = ('from diskimage_vhd.posix import atomic; '
                  'atomic.temporary_name = lambda: ".dvhd-00000000.tmp"; ')
        for prefix in (always, NO_TMPFILE + always):
            with self.subTest(o_tmpfile=prefix == always, always=True):
                result = self.run_convert(self.out, prefix)
                self.assertNotEqual(result.returncode, 0)
                self.assertNotIn('Traceback', result.stderr)
                self.assertIn('every', result.stderr)
                self.assertFalse(os.path.exists(self.out))
                self.assertEqual(self.temporaries(), ['.dvhd-00000000.tmp'])
                with open(taken) as handle:
                    self.assertEqual(handle.read(), 'not ours')

    def test_longest_destination_name(self) -> None:
        for prefix in ('', NO_TMPFILE):
            with self.subTest(o_tmpfile=not prefix):
                out = self.path('d' * (NAME_MAX - 4)
                                + '.vhd')
                self.assertLessEqual(len(os.path.basename(out)), NAME_MAX)
                result = self.run_convert(out, prefix)
                self.assertEqual(result.returncode, 0, result.stderr)
                base.qemu_compare(self, self.raw, out)
                self.assertEqual(self.temporaries(), [])
                os.unlink(out)

    def test_without_proc(self) -> None:
        """In a mount namespace with an empty tmpfs over /proc."""
        if os.geteuid() != 0:
            self.skipTest('a mount namespace needs root')
        argv = entry('diskimage_vhd.cli.commands') + ['convert', '-q',
                                                      self.raw, self.out]
        script = ('mount -t tmpfs none /proc && test ! -e /proc/self && '
                  'exec "$@"')
        result = self.run_wrapped(['unshare', '-m', 'sh', '-c', script,
                                   'sh', *argv])
        self.assertEqual(result.returncode, 0, result.stderr)
        base.qemu_compare(self, self.raw, self.out)
        self.assertEqual(set(os.listdir(self.tmp)), {'in.raw', 'out.vhd'})

    def run_wrapped(self, argv: List[str]) -> subprocess.CompletedProcess:
        result = base.run(argv)
        if 'unshare failed' in result.stderr or 'mount: ' in result.stderr:
            self.skipTest(f'no mount namespace here: {result.stderr}')
        return result

    def test_mode_carries_over_from_a_file_of_ours(self) -> None:
        for prefix in ('', NO_TMPFILE):
            with self.subTest(o_tmpfile=not prefix):
                with open(self.out, 'wb') as handle:
                    handle.write(b'old')
                os.chmod(self.out, 0o600)
                result = self.run_convert(self.out, prefix)
                self.assertEqual(result.returncode, 0, result.stderr)
                found = os.stat(self.out)
                self.assertEqual(stat.S_IMODE(found.st_mode), 0o600)
                self.assertEqual(found.st_uid, os.geteuid())
                base.qemu_compare(self, self.raw, self.out)

    def test_another_users_file_hands_them_nothing(self) -> None:
        """Root replacing a 666 file another user made in a shared
        directory: the new image is root's, with the umask's mode, and
        the finding is said in one line.
        """
        if os.geteuid() != 0:
            self.skipTest('needs root to make a file of another user')
        for prefix in ('', NO_TMPFILE):
            with self.subTest(o_tmpfile=not prefix):
                with open(self.out, 'wb') as handle:
                    handle.write(b'old')
                os.chown(self.out, 4321, 8765)
                os.chmod(self.out, 0o666)
                argv = entry('diskimage_vhd.cli.commands', prefix) + [
                    'convert', self.raw, self.out]
                result = base.run(['sh', '-c', 'umask 022 && exec "$@"',
                                   'sh', *argv])
                self.assertEqual(result.returncode, 0, result.stderr)
                found = os.stat(self.out)
                self.assertEqual((found.st_uid, found.st_gid,
                                  stat.S_IMODE(found.st_mode)), (0, 0, 0o644))
                self.assertIn(f'{self.out}: was owned by user 4321; the new '
                              'file is owned by user 0, mode 0644',
                              result.stderr)
                base.qemu_compare(self, self.raw, self.out)

    def test_new_destination_follows_the_umask(self) -> None:
        result = base.run(['sh', '-c', 'umask 027 && exec "$@"', 'sh',
                           *DISKIMAGE_VHD, 'convert', '-q', self.raw,
                           self.out])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(self.out).st_mode), 0o640)

    def test_sigkill_at_the_rename_leaves_one_recognisable_file(self) -> None:
        for prefix, sync in MODES:
            with self.subTest(o_tmpfile=not prefix, sync=sync):
                result = self.run_convert(
                    self.out, prefix, strace('rename', signal.SIGKILL), sync)
                self.assertEqual(result.returncode, -signal.SIGKILL)
                self.assertFalse(os.path.exists(self.out))
                left = self.temporaries()
                self.assertEqual(len(left), 1, os.listdir(self.tmp))
                base.qemu_compare(self, self.raw, self.path(left[0]))
                # The next run neither fails on it nor removes it.
                again = self.run_convert(self.out, prefix)
                self.assertEqual(again.returncode, 0, again.stderr)
                self.assertEqual(self.temporaries(), left)
                os.unlink(self.path(left[0]))
                os.unlink(self.out)

    def test_signal_at_every_step_of_the_commit(self) -> None:
        """SIGINT/SIGTERM on entry to each call: finished and said so, or
        nothing at all (no destination, no temporary file).
        """
        for prefix, sync in MODES:
            for call in COMMIT_CALLS:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    with self.subTest(o_tmpfile=not prefix, sync=sync,
                                      call=call, signal=signum.name):
                        self.signalled(prefix, call, signum, sync)

    def signalled(self, prefix: str, call: str,
                  signum: signal.Signals, sync: bool) -> None:
        if os.path.exists(self.out):
            os.unlink(self.out)
        result = self.run_convert(self.out, prefix, strace(call, signum),
                                  sync)
        self.assertNotIn('Traceback', result.stderr)
        self.assertEqual(self.temporaries(), [])
        if result.returncode == 0:
            base.qemu_compare(self, self.raw, self.out)
            return
        self.assertIn(result.returncode, (130, 143, -signum), result.stderr)
        self.assertFalse(os.path.exists(self.out))
