"""tools/benchmark.py still runs, and checks what diskimage-vhd wrote.

A smoke run on small workloads: no timing is asserted, only that every row
ran with its tools (or said why it was skipped), a table and the targets
came out, each diskimage-vhd output passed the benchmark's own ``qemu-img
compare``, and nothing was left behind: no file, no mount, even when the
run is stopped by SIGTERM.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

from tests import base

BENCHMARK = os.path.join(base.REPO_ROOT, 'tools', 'benchmark.py')
DVHD = 'diskimage-vhd'
QEMU = 'qemu-img'
CP = 'cp --sparse=always'
DVHD_SYNC = 'diskimage-vhd --sync'
QEMU_WRITEBACK = 'qemu-img -t writeback'
CP_SYNC = 'cp --sparse=always + sync -f'
TOOLS = {
    'a': (DVHD, 'diskimage-vhd, SOURCE_DATE_EPOCH', DVHD_SYNC, QEMU,
          QEMU_WRITEBACK, CP, CP_SYNC),
    'b': (DVHD, DVHD_SYNC, QEMU, QEMU_WRITEBACK, CP, CP_SYNC),
    'c': (DVHD, QEMU, CP), 'z': (DVHD, QEMU, CP),
    'e': (DVHD, QEMU, CP),
    'a-cold': (DVHD, QEMU), 'b-cold': (DVHD, QEMU),
    'd': ('vhd-util (DIB steps)', 'qemu-img (DIB steps)', QEMU),
    'a-xfs': (DVHD, QEMU, CP), 'a-btrfs': (DVHD, QEMU, CP),
}
# Our tools whose outputs the benchmark checks with qemu-img compare.
VERIFIED = {'a': (DVHD, 'diskimage-vhd, SOURCE_DATE_EPOCH', DVHD_SYNC),
            'b': (DVHD, DVHD_SYNC)}
TARGETS = ('DIB-like, warm cache', 'DIB-like, warm cache, x cp',
           'DIB-like, SOURCE_DATE_EPOCH', 'dense', 'written zeros',
           '1 TiB empty', '100,000 small extents', 'DIB-like, cold cache',
           'dense, cold cache', "DIB's steps", '--sync DIB-like',
           '--sync DIB-like, x cp + sync', '--sync dense',
           '--sync dense, x cp + sync', 'xfs: extents shared',
           'btrfs: extents shared', 'peak RSS everywhere')


def mounts_under(path: str) -> list:
    real = os.path.realpath(path)
    with open('/proc/self/mounts') as mounts:
        return [line for line in mounts
                if line.split()[1].startswith(real + '/')]


@unittest.skipUnless(shutil.which('qemu-img'), 'qemu-img is the referee')
class TestBenchmarkSmoke(base.TempDirTestCase):

    def test_quick_run_prints_tables_and_verifies(self) -> None:
        done = subprocess.run(
            [sys.executable, BENCHMARK, '--quick', '--runs', '1',
             '--workdir', self.tmp], capture_output=True, text=True,
            timeout=900)
        self.assertEqual(done.returncode, 0, done.stderr)
        lines = done.stdout.splitlines()
        cells = [re.split(r' {2,}', line) for line in lines]
        rows = {tuple(c[:2]) for c in cells if c[0] in TOOLS}
        skipped = set(re.findall(r'skipping (\S+):', done.stderr))
        self.assertLessEqual(skipped, {'d', 'a-xfs', 'a-btrfs'}, done.stderr)
        self.assertIn('start-up from an empty page cache', lines[-1])
        for key, tools in TOOLS.items():
            if key in skipped:
                self.assertFalse(any(r[0] == key for r in rows))
                continue
            for tool in tools:
                self.assertIn((key, tool), rows, done.stdout)
            for ours in VERIFIED.get(key, tools[:1]):
                self.assertIn(f'verified: {key} {ours}: output identical to '
                              'the input (qemu-img compare)', lines)
        verdicts = {c[0]: c for c in cells if c[0] in TARGETS}
        self.assertEqual(set(verdicts), set(TARGETS), done.stdout)
        for target, row in verdicts.items():
            ratio, limit, met = row[-3:]
            if ratio == 'not run':
                self.assertEqual(met, '-')
            else:
                self.assertIn(met, ('yes', 'NO'))
                bound = float(limit.split()[-1])
                self.assertEqual(met == 'yes', float(ratio) < bound or (
                    limit.startswith('<=') and float(ratio) <= bound), row)
        ran = [row for row in verdicts.values() if row[-1] != '-']
        met = sum(row[-1] == 'yes' for row in ran)
        self.assertIn(f'targets met: {met} of {len(ran)} run, of '
                      f'{len(TARGETS)}', done.stdout)
        self.assertEqual(os.listdir(self.tmp), [], 'workdir left behind')
        self.assertEqual(mounts_under(self.tmp), [])

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which('mkfs.xfs'),
                         'loop-mounts XFS: root and xfsprogs')
    def test_sigterm_unmounts_and_cleans_up(self) -> None:
        bench = subprocess.Popen(
            [sys.executable, BENCHMARK, '--quick', '--runs', '50',
             '--rows', 'a-xfs', '--workdir', self.tmp],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for line in bench.stdout:  # the tools run once the row is named
                if line.startswith('a-xfs)'):
                    break
            self.assertEqual(len(mounts_under(self.tmp)), 1)
            time.sleep(0.5)
            bench.send_signal(signal.SIGTERM)
            _, errors = bench.communicate(timeout=120)
        finally:
            if bench.poll() is None:
                bench.kill()
                bench.wait()
        self.assertEqual(bench.returncode, 130, errors)
        self.assertIn('interrupted (signal 15)', errors)
        self.assertEqual(mounts_under(self.tmp), [])
        self.assertEqual(os.listdir(self.tmp), [], 'workdir left behind')


class TestColdInput(base.TempDirTestCase):
    """The cold rows' input is read from the disk: its pages are evicted."""

    def test_settle_evicts_the_input(self) -> None:
        sys.path.insert(0, os.path.dirname(BENCHMARK))
        self.addCleanup(sys.path.remove, os.path.dirname(BENCHMARK))
        from vhdbench.measure import settle
        path = self.path('input.raw')
        with open(path, 'wb') as handle:
            handle.write(b'\1' * (1 << 20))
        fd = os.open(path, os.O_RDONLY)
        self.addCleanup(os.close, fd)
        page = bytearray(4096)
        os.preadv(fd, [page], 0)  # in the page cache now
        self.assertEqual(os.preadv(fd, [page], 0, os.RWF_NOWAIT), 4096)
        settle([path])
        with self.assertRaises(BlockingIOError):  # would wait for the disk
            os.preadv(fd, [page], 0, os.RWF_NOWAIT)
