"""tools/benchmark.py still runs, and checks what diskimage-vhd wrote.

A smoke run on small workloads: no timing is asserted, only that every tool
ran, a table came out, and each diskimage-vhd output passed the benchmark's
own ``qemu-img compare``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import unittest

from tests import base

BENCHMARK = os.path.join(base.REPO_ROOT, 'tools', 'benchmark.py')
TOOLS = ('diskimage-vhd', 'qemu-img', 'cp --sparse=always')


@unittest.skipUnless(shutil.which('qemu-img'), 'qemu-img is the referee')
class TestBenchmarkSmoke(base.TempDirTestCase):

    def test_quick_run_prints_table_and_verifies(self) -> None:
        done = subprocess.run(
            [sys.executable, BENCHMARK, '--quick', '--runs', '1',
             '--workdir', self.tmp], capture_output=True, text=True,
            timeout=600)
        self.assertEqual(done.returncode, 0, done.stderr)
        lines = done.stdout.splitlines()
        rows = {tuple(re.split(r' {2,}', line)[:2]) for line in lines
                if re.match(r'[abcd] {2,}\S', line)}
        for workload in 'abc':
            for tool in TOOLS:
                self.assertIn((workload, tool), rows, done.stdout)
        expected = [f'verified: {w} diskimage-vhd: output identical to the '
                    'input (qemu-img compare)' for w in 'abc']
        if 'skipping d' not in done.stderr:
            self.assertIn(('d', 'vhd-util (DIB steps)'), rows, done.stdout)
            expected.append('verified: d vhd-util (DIB steps): output '
                            'identical to the input (qemu-img compare)')
        for line in expected:
            self.assertIn(line, lines)
        self.assertEqual(os.listdir(self.tmp), [], 'workdir left behind')
