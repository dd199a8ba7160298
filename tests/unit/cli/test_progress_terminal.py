"""The progress bar in real terminals (tmux) of 40 and 80 columns.

It must fit the width (the path shortened), be redrawn in place rather than
wrap, and any message that interrupts it (a warning, Ctrl-C's line) must
start on a line of its own.  tmux's screen is the referee: capture-pane
shows each row as the terminal laid it out, and ``-J`` joins the rows that
the terminal wrapped.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from typing import List
import unittest

from diskimage_vhd.console.progress import bar_line
from diskimage_vhd.console.progress import rate_and_time_left
from tests import base

TMUX = shutil.which('tmux')
BAR = re.compile(r'\[[#-]+\]|\d+%')
# A directory name long enough to overflow any terminal here.
LONG_DIR = 'a-directory-with-a-name-long-enough-to-overflow-the-terminal'
WAIT = 120.0  # seconds; a bound on waiting, not a timing assertion

# Draws a bar until interrupted, with a warning on the way, through the
# commands' own code: Progress, the warning printer, run_command's Ctrl-C.
DRIVER = '''
import sys, time
from diskimage_vhd.cli import commands
from diskimage_vhd.console.progress import Progress
from diskimage_vhd.console.run import run_command

def body(argv):
    bar = Progress(sys.argv[1], 1000, interval=0)
    for step in range(10 ** 6):
        bar(step % 1000)
        if step == 50:
            commands._warn('a warning')
        if step == 100:
            print('READY', file=open(sys.argv[2], 'w'))
        time.sleep(0.01)

sys.exit(run_command('diskimage-vhd', body))
'''


class BarLineTest(base.TempDirTestCase):
    """Every bar line fits in the width, keeps the file name and the figure."""

    def test_fits_every_width(self) -> None:
        label = 'converting /' + LONG_DIR + '/in.raw'
        for columns in range(1, 200):
            for percent in (0, 7, 45, 100):
                line = bar_line(label, percent, columns)
                self.assertLessEqual(len(line), columns - 1, (columns, line))
                if columns >= 6:
                    self.assertTrue(line.endswith(f'{percent}%'), line)
                if columns >= 40:
                    self.assertIn('in.raw [', line)

    def test_short_label_untouched(self) -> None:
        self.assertEqual(bar_line('converting x', 50, 80),
                         'converting x [' + '#' * 15 + '-' * 15 + ']  50%')


# Draws a bar of 10 GB at 100 MB a second (a sleep between steps), long
# enough for the rate and the time left to appear; says READY in a file
# once it has drawn a bar after the rate's first second.
RATE_DRIVER = '''
import sys, time
from diskimage_vhd.console import progress

bar = progress.Progress(sys.argv[1], 10 ** 10, interval=0)
for step in range(10 ** 4):
    bar(step * 10 ** 6)
    if time.monotonic() - bar._started > progress.MIN_RATE_SECONDS + 0.2:
        print('READY', file=open(sys.argv[2], 'w'))
    time.sleep(0.01)
'''
STATS = re.compile(r' \d+%( [\d.]+ (bytes|KiB|MiB|GiB|TiB)/s, '
                   r'(\d+:)?\d+:\d\d left)?$')


class StatsTest(unittest.TestCase):
    """The rate and time left follow the figure only where they fit."""

    def test_rate_and_time_left(self) -> None:
        self.assertEqual(rate_and_time_left(50 * base.MiB, 200 * base.MiB,
                                            2.0), '25 MiB/s, 0:06 left')
        self.assertEqual(rate_and_time_left(base.MiB, 4000 * base.MiB, 1.0),
                         '1 MiB/s, 1:06:39 left')
        self.assertEqual(rate_and_time_left(base.MiB, base.MiB, 2.0),
                         '512 KiB/s')  # done: no time left to tell
        self.assertEqual(rate_and_time_left(0, base.MiB, 5.0), '')
        self.assertEqual(rate_and_time_left(base.MiB, 2 * base.MiB, 0.01), '')

    def test_fits_every_width(self) -> None:
        stats = '25 MiB/s, 0:06 left'
        for label in ('converting in.raw',
                      'converting /' + LONG_DIR + '/in.raw'):
            for columns in range(1, 200):
                line = bar_line(label, 25, columns, stats)
                self.assertLessEqual(len(line), columns - 1, (columns, line))
                if line.endswith(stats):
                    # Shown whole, with the whole label and a full bar.
                    self.assertTrue(line.startswith(label + ' [' + '#' * 7),
                                    line)
                else:
                    self.assertEqual(line, bar_line(label, 25, columns))
            widest = bar_line(label, 25, 200, stats)
            self.assertTrue(widest.endswith(' 25% ' + stats), widest)


class TerminalTest(base.TempDirTestCase):

    def setUp(self) -> None:
        super().setUp()
        if TMUX is None:
            self.skipTest('tmux is not installed (apt-get install tmux)')
        self.terminals = 0

    def tmux(self, *args: str) -> str:
        result = subprocess.run([TMUX, '-S', self.socket, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True)
        self.assertEqual(result.returncode, 0,
                         f'tmux {" ".join(args)}: {result.stderr}')
        return result.stdout

    def screen(self, joined: bool = False) -> List[str]:
        rows = self.tmux('capture-pane', '-p', *(['-J'] if joined else []),
                         '-t', 'test')
        return [row.rstrip() for row in rows.splitlines()]

    def start(self, columns: int, command: List[str]) -> None:
        """Run ``command`` in a fresh terminal of ``columns`` columns."""
        # -echoctl: the terminal's own "^C" echo is not the bar's output.
        line = ('stty -echoctl; ' + shlex.join(command) +
                '; echo "EXIT=$?"; sleep 600')
        # A server of its own for each terminal: a killed server's socket
        # may linger a moment.
        self.terminals += 1
        self.socket = self.path(f'tmux-{self.terminals}.socket')
        self.addCleanup(subprocess.run, [TMUX, '-S', self.socket,
                                         'kill-server'],
                        stderr=subprocess.DEVNULL)
        self.tmux('-f', os.devnull, 'new-session', '-d', '-s', 'test',
                  '-x', str(columns), '-y', '40', line)

    def wait_for(self, text: str) -> List[str]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            rows = self.screen()
            if any(text in row for row in rows):
                return rows
            time.sleep(0.1)
        self.fail(f'{text!r} never appeared; the screen:\n' +
                  '\n'.join(self.screen()))

    def assert_bar_row(self, row: str, columns: int) -> None:
        self.assertLess(len(row), columns, row)
        self.assertIn('...', row)  # the long path was shortened
        self.assertRegex(row, r'^converting \.\.\.\S*in\.raw \[[#-]+\] +'
                              r'\d+%$')

    def convert_in_terminal(self, columns: int) -> None:
        folder = self.path(LONG_DIR)
        os.mkdir(folder)
        data = base.random_bytes(8 * base.MiB)
        raw = base.make_raw(os.path.join(folder, 'in.raw'), 192 * base.MiB,
                            [(i * 8 * base.MiB, data) for i in range(24)])
        self.start(columns, [sys.executable, '-m', 'diskimage_vhd', 'convert',
                             raw, os.path.join(folder, 'out.vhd')])
        rows = self.wait_for('EXIT=')
        self.assertIn('EXIT=0', rows)
        bars = [row for row in rows if BAR.search(row)]
        # Redrawn in place: one row holds the bar, however often it was
        # drawn, and it ends at 100%.
        self.assertEqual(len(bars), 1, '\n'.join(rows))
        self.assert_bar_row(bars[0], columns)
        self.assertTrue(bars[0].endswith('100%'), bars[0])
        # The terminal did not wrap it: -J (join wrapped rows) leaves it.
        self.assertIn(bars[0], self.screen(joined=True))
        after = rows[rows.index(bars[0]) + 1]
        self.assertTrue(after.startswith(folder[:20]), after)

    def test_convert_40_columns(self) -> None:
        self.convert_in_terminal(40)

    def test_convert_80_columns(self) -> None:
        self.convert_in_terminal(80)

    def draw_rate(self, columns: int) -> List[str]:
        """The screen once the driver has drawn with a rate to tell."""
        ready = self.path(f'rate-ready-{columns}')
        self.start(columns, [sys.executable, '-c', RATE_DRIVER,
                             'converting in.raw', ready])
        deadline = time.monotonic() + WAIT
        while not os.path.exists(ready) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(os.path.exists(ready), '\n'.join(self.screen()))
        return self.screen()

    def test_rate_and_time_left_on_a_wide_terminal(self) -> None:
        label = 'converting in.raw'
        rows = self.draw_rate(120)
        bars = [row for row in rows if BAR.search(row)]
        self.assertEqual(len(bars), 1, '\n'.join(rows))
        self.assertTrue(bars[0].startswith(label + ' ['), bars[0])
        self.assertRegex(bars[0], STATS)
        self.assertIn(' left', bars[0])
        self.assertLess(len(bars[0]), 120)
        self.tmux('send-keys', '-t', 'test', 'C-c')

    def test_no_room_no_rate(self) -> None:
        # At 40 columns the label and the bar take the room: no rate.
        rows = self.draw_rate(40)
        bars = [row for row in rows if BAR.search(row)]
        self.assertEqual(len(bars), 1, '\n'.join(rows))
        self.assertRegex(bars[0], r'^converting in\.raw \[[#-]+\] +\d+%$')
        self.tmux('send-keys', '-t', 'test', 'C-c')

    def test_warning_and_interrupt_on_their_own_lines(self) -> None:
        for columns in (40, 80):
            with self.subTest(columns=columns):
                self.interrupt_in_terminal(columns)

    def interrupt_in_terminal(self, columns: int) -> None:
        ready = self.path(f'ready-{columns}')
        label = 'converting /' + LONG_DIR + '/in.raw'
        self.start(columns, [sys.executable, '-c', DRIVER, label, ready])
        deadline = time.monotonic() + WAIT
        while not os.path.exists(ready) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.tmux('send-keys', '-t', 'test', 'C-c')
        rows = self.wait_for('EXIT=')
        joined = self.screen(joined=True)
        self.assertIn('EXIT=130', rows)
        warning = rows.index('diskimage-vhd: a warning')
        # At 40 columns the terminal wraps this long line: find its start.
        stop = next(i for i, row in enumerate(rows)
                    if row.startswith('diskimage-vhd: interrupted'))
        self.assertIn('diskimage-vhd: interrupted; nothing was written',
                      joined)
        # Each message on a row of its own, right below the bar it broke.
        self.assert_bar_row(rows[warning - 1], columns)
        self.assert_bar_row(rows[stop - 1], columns)
        bars = [row for row in rows if BAR.search(row)]
        self.assertEqual(len(bars), 2, '\n'.join(rows))
        for bar in bars:
            self.assertIn(bar, joined)  # not wrapped by the terminal
