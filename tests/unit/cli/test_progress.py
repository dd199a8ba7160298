"""Progress: a redrawn bar on a terminal, plain percentage lines in a log."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys

from diskimage_vhd.console.progress import Progress
from tests import base


class TestProgress(base.TempDirTestCase):

    def test_log_lines(self) -> None:
        stream = io.StringIO()
        progress = Progress('converting x', 200, stream=stream, interval=0)
        progress(50)
        progress(100)
        progress.finish()
        self.assertEqual(stream.getvalue().splitlines(),
                         ['converting x: 25%', 'converting x: 50%',
                          'converting x: 100%'])

    def test_quiet_when_fast(self) -> None:
        stream = io.StringIO()
        progress = Progress('converting x', 200, stream=stream)
        progress(100)
        progress.finish()
        self.assertEqual(stream.getvalue(), '')

    def test_terminal_bar_through_the_command(self) -> None:
        raw = base.make_raw(self.path('in.raw'), 64 * base.MiB,
                            [(0, base.random_bytes(base.MiB))])
        controller, terminal = pty.openpty()
        process = subprocess.Popen(
            [sys.executable, '-m', 'diskimage_vhd', 'convert', raw,
             self.path('out.vhd')], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=terminal)
        os.close(terminal)
        output = b''
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        os.close(controller)
        self.assertEqual(process.wait(), 0)
        text = output.decode()
        self.assertIn('\r', text)
        # A bare pty does not say its width: the bar fits 80 columns.
        bar = re.search(r'\r(converting \S+ \[#+\] 100%) *\r\n', text)
        self.assertIsNotNone(bar, text)
        self.assertLessEqual(len(bar.group(0)) - 3, 79)
        self.assertIn('out.vhd: dynamic VHD, 64 MiB virtual', text)

    def test_quiet_option(self) -> None:
        raw = base.make_raw(self.path('in.raw'), 4 * base.MiB, [(0, b'x')])
        result = base.run_module('diskimage_vhd', 'convert', '-q', raw,
                                 self.path('out.vhd'))
        self.assertEqual((result.returncode, result.stdout, result.stderr),
                         (0, '', ''))
