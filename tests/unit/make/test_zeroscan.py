"""Zeros told from data on two cores: the same verdicts as one, on real
files, with the far half read by the worker thread, its errors raised to
the caller, and a conversion still stopped cleanly by SIGINT mid-scan.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from diskimage_vhd.errors import VhdError
from diskimage_vhd.image.sources import RawSource
from diskimage_vhd.make.zeroscan import halves
from diskimage_vhd.make.zeroscan import SPLIT_MIN
from diskimage_vhd.make.zeroscan import ZeroScanner
from tests import base

CHUNK = 256 * 1024
SIZE = 4 * SPLIT_MIN


def written_zeros(path: str, size: int) -> str:
    """A file of zeros that are really written: no holes to skip."""
    zeros = bytes(base.MiB)
    return base.make_raw(path, size,
                         ((offset, zeros) for offset in range(0, size,
                                                              base.MiB)))


class ZeroScannerTest(base.TempDirTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.raw = written_zeros(self.path('zeros.raw'), SIZE)
        self.source = RawSource(self.raw)
        self.addCleanup(self.source.close)

    def poke(self, offset: int) -> None:
        """Make the byte at ``offset`` non-zero (and the rest zeros)."""
        with open(self.raw, 'r+b') as handle:
            handle.seek(offset)
            handle.write(b'\1')

    def verdicts(self, offset: int, length: int) -> bool:
        """The scanner's answer, checked against reading it whole."""
        scanner = ZeroScanner(self.source.read_into, CHUNK)
        answer = scanner.is_zero(offset, length)
        expected = os.pread(self.source.fd, length, offset).count(0) == length
        self.assertEqual(answer, expected, (offset, length))
        return answer

    def test_one_byte_anywhere_is_found(self) -> None:
        offset, length = 4096, SIZE - 2 * 4096  # split: near and far halves
        near = length // 2 // CHUNK * CHUNK
        self.assertTrue(self.verdicts(offset, length))
        for where in (offset, offset + near - 1, offset + near,
                      offset + length - 1, offset + CHUNK * 3 + 17):
            with self.subTest(where=where):
                written_zeros(self.raw, SIZE)
                self.poke(where)
                self.assertFalse(self.verdicts(offset, length))
        for where in (offset - 1, offset + length):  # just outside
            with self.subTest(where=where):
                written_zeros(self.raw, SIZE)
                self.poke(where)
                self.assertTrue(self.verdicts(offset, length))

    def test_a_batch_of_ranges_gets_a_verdict_each(self) -> None:
        """Eight ranges scanned together, split across the two threads
        inside the fourth one: data anywhere marks its own range only.
        """
        step = SPLIT_MIN // 2
        ranges = [(i * step, step - 4096) for i in range(8)]
        near, far = halves(ranges, sum(n for _, n in ranges) // 2 // CHUNK
                           * CHUNK)
        self.assertEqual(near[-1][0], far[0][0])  # one range split in two
        for where in (None, 100, 3 * step + step - 4097, 3 * step,
                      7 * step + 5, 4 * step - 1):
            with self.subTest(where=where):
                written_zeros(self.raw, SIZE)
                if where is not None:
                    self.poke(where)
                got = ZeroScanner(self.source.read_into,
                                  CHUNK).are_zero(ranges)
                expected = [os.pread(self.source.fd, n, at).count(0) == n
                            for at, n in ranges]
                self.assertEqual(got, expected)
                self.assertEqual(got.count(False),
                                 0 if where in (None, 4 * step - 1) else 1)

    def test_halves_cut_the_bytes_not_the_count(self) -> None:
        self.assertEqual(halves([(0, 10), (100, 30), (200, 10)], 20),
                         ([(0, 0, 10), (1, 100, 10)],
                          [(1, 110, 20), (2, 200, 10)]))
        self.assertEqual(halves([(0, 10), (100, 10)], 10),
                         ([(0, 0, 10)], [(1, 100, 10)]))

    def test_short_ranges_are_scanned_alone(self) -> None:
        self.poke(SPLIT_MIN - 2)
        self.assertFalse(self.verdicts(0, SPLIT_MIN - 1))
        self.assertTrue(self.verdicts(0, SPLIT_MIN - 2))

    def test_the_far_half_is_read_by_another_thread(self) -> None:
        readers = {}

        def read_into(offset: int, view: memoryview) -> None:
            readers.setdefault(threading.get_ident(), []).append(offset)
            self.source.read_into(offset, view)

        scanner = ZeroScanner(read_into, CHUNK)
        self.assertTrue(scanner.is_zero(0, SIZE))
        caller = readers.pop(threading.get_ident())
        (worker,) = readers.values()
        self.assertEqual(max(caller) + CHUNK, SIZE // 2)
        self.assertEqual(min(worker), SIZE // 2)
        readers.clear()
        self.assertTrue(scanner.is_zero(0, SPLIT_MIN - 1))
        self.assertEqual(list(readers), [threading.get_ident()])

    def test_the_workers_read_error_is_the_callers(self) -> None:
        """A source that shrank under the far half: its error, raised here;
        and the worker goes on serving the next scan.
        """
        scanner = ZeroScanner(self.source.read_into, CHUNK)
        os.truncate(self.raw, SIZE // 2 + CHUNK)
        with self.assertRaisesRegex(VhdError, 'changed size'):
            scanner.is_zero(0, SIZE)
        self.assertTrue(scanner.is_zero(0, SIZE // 2))

    def test_a_forked_child_starts_its_own_worker(self) -> None:
        code = ('import os, sys\n'
                'from diskimage_vhd.image.sources import RawSource\n'
                'from diskimage_vhd.make.zeroscan import ZeroScanner\n'
                f'source = RawSource({self.raw!r})\n'
                f'scanner = ZeroScanner(source.read_into, {CHUNK})\n'
                f'assert scanner.is_zero(0, {SIZE})\n'
                'pid = os.fork()\n'
                'if pid == 0:\n'
                f'    os._exit(0 if scanner.is_zero(0, {SIZE}) else 1)\n'
                'sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n')
        result = base.run([sys.executable, '-c', code], cwd=base.REPO_ROOT,
                          timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)


class InterruptedScanTest(base.TempDirTestCase):
    """SIGINT while both threads scan: the one-line message, nothing left."""

    def test_sigint_mid_scan(self) -> None:
        raw = written_zeros(self.path('zeros.raw'), 512 * base.MiB)
        out = self.path('out.vhd')
        process = subprocess.Popen(
            [sys.executable, '-m', 'diskimage_vhd', 'convert', '-q', raw,
             out], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=base.REPO_ROOT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.addCleanup(process.communicate)
        self.addCleanup(process.kill)  # a hung child fails the test, not the run
        deadline = time.monotonic() + 30
        # The worker thread starts with the first long range of zeros.
        while len(os.listdir(f'/proc/{process.pid}/task')) < 2:
            self.assertIsNone(process.poll(), 'finished before the scan')
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.0005)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        self.assertEqual(process.returncode, 130, err)
        self.assertEqual(err, 'diskimage-vhd: interrupted; nothing was '
                              'written\n')
        self.assertEqual(sorted(os.listdir(self.tmp)), ['zeros.raw'])
