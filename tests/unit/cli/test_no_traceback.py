"""No traceback, ever: size fields at their extremes, a block size of 0,
bytes from a disk on an ASCII stdout, a signal during start-up."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from typing import List

from diskimage_vhd import convert
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from tests import base
from tests.unit.test_crash_safety import dense_raw
from tests.unit.test_crash_safety import DISKIMAGE_VHD
from tests.unit.test_crash_safety import VHD_UTIL

# Signals per command and signal, spread over one run.
SIGNAL_RUNS = 5
# Starts watched for the quiet window before concluding there is none (a
# busy machine may keep the watcher from looking in time).
QUIET_ATTEMPTS = 5


def patch_footer(path: str, **fields: object) -> None:
    """Set footer fields in both copies, with a valid checksum."""
    size = os.path.getsize(path)
    with open(path, 'r+b') as handle:
        for offset in sorted({0, size - c.FOOTER_SIZE}):
            handle.seek(offset)
            footer = Footer.parse(handle.read(c.FOOTER_SIZE))
            if footer.cookie != c.FOOTER_COOKIE:
                continue
            footer = footer.replace(**fields)
            footer = footer.replace(checksum=footer.computed_checksum())
            handle.seek(offset)
            handle.write(footer.pack())


def patch_header(path: str, **fields: object) -> None:
    """Set dynamic header fields, with a valid checksum."""
    with open(path, 'r+b') as handle:
        offset = Footer.parse(handle.read(c.FOOTER_SIZE)).data_offset
        handle.seek(offset)
        header = DynamicHeader.parse(handle.read(c.HEADER_SIZE))
        header = header.replace(**fields)
        header = header.replace(checksum=header.computed_checksum())
        handle.seek(offset)
        handle.write(header.pack())


class ExtremeFieldTest(base.TempDirTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.raw = base.make_raw(self.path('in.raw'), 3 * base.MiB,
                                 [(0, base.random_bytes(base.MiB))])
        self.vhd = self.path('disk.vhd')
        convert(self.raw, self.vhd)

    def test_current_size_beyond_any_disk(self) -> None:
        """2^63 was an OverflowError (raw), 2^64 - 1 a struct.error (fixed)."""
        out = self.path('out')
        for size in (2 ** 63,
                     2 ** 64 - 1):
            patch_footer(self.vhd, current_size=size)
            for target in ('raw', 'fixed', 'dynamic'):
                with self.subTest(size=size, target=target):
                    result = base.run(DISKIMAGE_VHD + [
                        'convert', '-q', '--to', target, self.vhd, out])
                    self.assertOneLine(result, self.vhd, '(2040 GiB) a VHD holds')
                    self.assertEqual(sorted(os.listdir(self.tmp)),
                                     ['disk.vhd', 'in.raw'])

    def test_read_translating_sectors_with_a_block_size_of_0(self) -> None:
        patch_header(self.vhd, block_size=0)
        result = base.run(VHD_UTIL + ['read', '-n', self.vhd, '-t', '0',
                                      '-c', '3'])
        self.assertEqual(result.returncode, 22, result.stderr)
        self.assertNotIn('Traceback', result.stderr)
        self.assertIn('block size 0', result.stderr)

    def test_non_ascii_creator_on_an_ascii_stdout(self) -> None:
        patch_footer(self.vhd, creator_application=b'\xe9t\xe9\xff')
        environ = dict(os.environ, PYTHONIOENCODING='ascii')
        for command in (['info', self.vhd], ['check', self.vhd]):
            with self.subTest(command[0]):
                result = base.run(DISKIMAGE_VHD + command, env=environ)
                self.assertNotIn('Traceback', result.stderr)
                self.assertIn(result.returncode, (0, 22), result.stderr)
                self.assertIn('\\xe9t\\xe9\\xff', result.stdout)


def _default_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


def _handlers(pid: int) -> int:
    """The live process's caught-signal mask (``SigCgt``); -1 once it has
    exited (a zombie shows none).
    """
    with open(f'/proc/{pid}/status') as handle:
        fields = dict(line.split(':', 1) for line in handle if ':' in line)
    if fields['State'].split()[0] in ('Z', 'X'):
        return -1
    return int(fields['SigCgt'], 16)


def _bit(signum: int) -> int:
    return 1 << (signum - 1)


class StartupSignalTest(base.TempDirTestCase):
    """SIGINT and SIGTERM from the moment the command's own code starts.

    The child reports on a pipe just before it imports the command; what
    came before (the interpreter's start-up) is Python's, not the tool's.
    A SIGINT before ``run_command`` must meet the default action (the
    process ends quietly, as by SIGTERM's): the test sees that in
    ``/proc/PID/status`` (Python's handler gone) and then signals the
    process at moments spread over the rest of a run.
    """

    def setUp(self) -> None:
        super().setUp()
        # Big enough that the body outlasts the polling by far.
        self.raw = dense_raw(self.path('in.raw'), 32 * base.MiB)
        self.vhd = self.path('disk.vhd')
        convert(self.raw, self.vhd)

    def start(self, argv: List[str]) -> subprocess.Popen:
        """``argv`` (an ``entry`` list), saying on a pipe when it begins."""
        read, write = os.pipe()
        code = argv[2].replace(
            'import sys;', f'import os, sys; os.write({write}, b"R"); '
                           f'os.close({write});', 1)
        process = subprocess.Popen(
            [argv[0], argv[1], code] + argv[3:], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, pass_fds=(write,),
            preexec_fn=_default_signals)
        os.close(write)
        self.addCleanup(os.close, read)
        ready, _, _ = select.select([read], [], [], 60)
        self.assertTrue(ready and os.read(read, 1) == b'R', 'never started')
        return process

    def wait_quiet(self, process: subprocess.Popen) -> bool:
        """Whether Python's SIGINT handler went before ``run_command``
        installed its SIGTERM one: the command's code took over.

        (Python also drops its handlers as it exits, after the body: that
        does not count, hence the SIGTERM handler as a landmark.)
        """
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            try:
                mask = _handlers(process.pid)
            except FileNotFoundError:
                break
            if mask == -1 or mask & _bit(signal.SIGTERM):
                break
            if not mask & _bit(signal.SIGINT):
                return True
            time.sleep(0.0002)
        return False

    def signalled(self, argv: List[str], signum: signal.Signals,
                  delay: float) -> subprocess.CompletedProcess:
        for _attempt in range(QUIET_ATTEMPTS):
            process = self.start(argv)
            if signum != signal.SIGINT or self.wait_quiet(process):
                break
            process.kill()  # the window may just have been missed: again
            process.communicate()
        else:
            self.fail('Python caught SIGINT until the command installed its '
                      'handlers: a SIGINT then gives a KeyboardInterrupt '
                      'traceback from an import')
        time.sleep(delay)
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
        return subprocess.CompletedProcess(argv, process.returncode, out,
                                           err)

    def duration(self, argv: List[str]) -> float:
        began = time.monotonic()
        process = self.start(argv)
        process.communicate(timeout=60)
        return time.monotonic() - began

    def test_signals_during_start_up(self) -> None:
        commands = [DISKIMAGE_VHD + ['convert', '-q', self.raw,
                                     self.path('out.vhd')],
                    VHD_UTIL + ['check', '-n', self.vhd]]
        for argv in commands:
            span = self.duration(argv)
            for signum, status in ((signal.SIGINT, 130),
                                   (signal.SIGTERM, 143)):
                for run in range(SIGNAL_RUNS):
                    delay = span * run / SIGNAL_RUNS
                    with self.subTest(argv[3], signal=signum.name,
                                      delay=delay):
                        result = self.signalled(argv, signum, delay)
                        self.assertNotIn('Traceback', result.stderr)
                        self.assertIn(result.returncode,
                                      (0, status, -signum), result.stderr)
                        if result.returncode == status:
                            self.assertEqual(
                                len(result.stderr.strip().splitlines()), 1,
                                result.stderr)


class SignalWhileAClassIsMadeTest(base.TempDirTestCase):
    """Python 3.11 wraps what ``__set_name__`` raises in a RuntimeError,
    interrupts included; a signal landing while an import makes an Enum
    (``uuid``'s ``SafeUUID``) must still end as the interrupt it is.
    """

    CODE = (
        'import os, signal, sys\n'
        'from diskimage_vhd.console.run import run_command\n'
        'class Signalling:\n'
        '    def __set_name__(self, owner, name):\n'
        '        os.kill(os.getpid(), signal.{signal})\n'
        'def body(argv):\n'
        '    class Made:\n'
        '        field = Signalling()\n'
        '    return 0\n'
        'sys.exit(run_command("vhd-util", body, []))\n')

    def test_sigint_and_sigterm_inside_class_creation(self) -> None:
        for signum, status, word in ((signal.SIGINT, 130, 'interrupted'),
                                     (signal.SIGTERM, 143, 'terminated')):
            with self.subTest(signal=signum.name):
                result = base.run(
                    [sys.executable, '-c',
                     self.CODE.format(signal=signum.name)],
                    cwd=base.REPO_ROOT, timeout=60)
                self.assertEqual(result.returncode, status, result.stderr)
                self.assertEqual(result.stderr.splitlines(),
                                 [f'vhd-util: {word}; nothing was written'])
