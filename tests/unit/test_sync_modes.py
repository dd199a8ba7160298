"""Fast by default, durable on request: what strace sees each command do.

By default no output is flushed (as ``qemu-img convert`` and ``cp`` do
not): no ``fsync``, ``fdatasync``, ``sync_file_range``, and no write-out
pushed early (``fadvise`` with ``POSIX_FADV_DONTNEED``).  With ``--sync``
(``DIB_VHD_SYNC=1`` for the drop-in, ``sync=True`` in the API) the
output's data is flushed before its name appears and its directory after,
so a power cut leaves the old state or the whole new one.  Every case
runs the real command under ``strace -f -y``, which names the file each
flush is on, and checks the output against qemu-img or the bytes
expected.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

from tests import base
from tests.unit.test_crash_safety import DISKIMAGE_VHD
from tests.unit.test_crash_safety import VHD_UTIL

MiB = base.MiB
FLUSHES = ('fsync', 'fdatasync', 'sync_file_range')
PUSHES = ('fadvise64',)
RENAMES = ('rename', 'renameat', 'renameat2')
# fsync(4</tmp/x/out.vhd>) = 0, as strace -y prints it.
CALL = re.compile(r'^(?:\d+ +)?(\w+)\(\d+<([^>]*)>')


class Call:
    """One traced call: its name, the path of the file it acted on, and
    whether it pushes a write-out (``fadvise64`` also asks for read-ahead
    of the input, ``POSIX_FADV_WILLNEED``, which is no flush).
    """

    def __init__(self, name: str, path: str, line: str = ''):
        self.name = name
        self.path = path
        self.push = name in PUSHES and 'DONTNEED' in line

    def __repr__(self) -> str:
        return f'{self.name}({self.path})'


class SyncModeTest(base.TempDirTestCase):

    def setUp(self) -> None:
        super().setUp()
        if shutil.which('strace') is None:
            self.fail('strace is not installed (apt-get install strace): it '
                      'is the referee of what is flushed')
        self.raw = base.make_raw(self.path('in.raw'), 16 * MiB, [
            (0, base.random_bytes(3 * MiB)), (9 * MiB, b'end')])

    def traced(self, argv: Sequence[str], env: Optional[Dict] = None,
               stdout: Optional[int] = None) -> List[Call]:
        """Run ``argv`` under strace; the flushes, pushes and renames seen
        (a rename with the path it was called on, read from its arguments).
        """
        log = self.path('strace.log')
        calls = ','.join(FLUSHES + PUSHES + RENAMES)
        environ = dict(os.environ, **(env or {}))
        result = subprocess.run(
            ['strace', '-f', '-qq', '-y', '-o', log, '-e', f'trace={calls}']
            + list(argv), env=environ, stdout=stdout,
            stderr=subprocess.PIPE, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        found = []
        with open(log) as handle:
            for line in handle:
                match = CALL.match(line)
                name = line.split('(', 1)[0].split()[-1]
                if match:
                    found.append(Call(match.group(1), match.group(2), line))
                elif name in RENAMES:
                    found.append(Call(name, ''))
        os.unlink(log)
        return found

    def assertNoFlush(self, calls: List[Call]) -> None:
        flushed = [c for c in calls if c.name in FLUSHES or c.push]
        self.assertEqual(flushed, [], 'the default mode must not flush')

    def assertFlushedThenNamed(self, calls: List[Call],
                               data_first: bool = True) -> None:
        """A flush of a file in the scratch directory before the last
        rename (after it, for a rename that precedes the change, with
        ``data_first`` false), and a flush of the directory after it.
        """
        names = [c.name for c in calls]
        self.assertTrue(any(n in RENAMES for n in names), calls)
        last_rename = max(i for i, n in enumerate(names) if n in RENAMES)
        data = [i for i, c in enumerate(calls)
                if c.name in FLUSHES and c.path != self.tmp
                and c.path.startswith(self.tmp)]
        directory = [i for i, c in enumerate(calls)
                     if c.name in FLUSHES and c.path == self.tmp]
        self.assertTrue(data, f'no data flush: {calls}')
        if data_first:
            self.assertLess(min(data), last_rename,
                            f'no data flush before the rename: {calls}')
        self.assertTrue(directory and max(directory) > last_rename,
                        f'no directory flush after the rename: {calls}')

    def convert(self, *options: str) -> List[str]:
        return DISKIMAGE_VHD + ['convert', '-q', *options]


class ConvertModesTest(SyncModeTest):
    """``diskimage-vhd convert`` to a file, each target, both writers."""

    CASES = (('dynamic', ()), ('fixed', ('--to', 'fixed')),
             ('raw', ('--to', 'raw')),
             ('dynamic with a checksum', ('--checksum', 'sha256')))

    def test_default_flushes_nothing(self) -> None:
        for label, options in self.CASES:
            with self.subTest(label):
                out = self.path(f'out-{len(options)}-{label[:3]}')
                self.assertNoFlush(self.traced(
                    self.convert(*options, self.raw, out)))
                fmt = 'raw' if 'raw' in options else 'vpc'
                base.qemu_compare(self, self.raw, out, fmt)

    def test_sync_flushes_data_then_directory(self) -> None:
        for label, options in self.CASES:
            with self.subTest(label):
                out = self.path(f'out-{len(options)}-{label[:3]}')
                self.assertFlushedThenNamed(self.traced(
                    self.convert('--sync', *options, self.raw, out)))
                fmt = 'raw' if 'raw' in options else 'vpc'
                base.qemu_compare(self, self.raw, out, fmt)

    def test_the_bytes_do_not_depend_on_the_mode(self) -> None:
        stamp = ('--timestamp', '1700000000', '--uuid',
                 '00000000-0000-0000-0000-000000000001')
        fast, durable = self.path('fast.vhd'), self.path('durable.vhd')
        self.traced(self.convert(*stamp, self.raw, fast))
        self.traced(self.convert('--sync', *stamp, self.raw, durable))
        with open(fast, 'rb') as one, open(durable, 'rb') as other:
            self.assertEqual(one.read(), other.read())

    def test_api_sync_flag(self) -> None:
        out = self.path('api.vhd')
        code = ('import sys, diskimage_vhd; diskimage_vhd.convert('
                f'{self.raw!r}, {out!r}, sync=sys.argv[1] == "1")')
        for sync in ('0', '1'):
            with self.subTest(sync=sync):
                calls = self.traced([sys.executable, '-c', code, sync])
                if sync == '1':
                    self.assertFlushedThenNamed(calls)
                else:
                    self.assertNoFlush(calls)
                base.qemu_compare(self, self.raw, out)


class StreamModesTest(SyncModeTest):
    """``convert SOURCE -`` with standard output a file, or a pipe."""

    def stream(self, sync: bool, out: str) -> List[Call]:
        options = ('--sync',) if sync else ()
        with open(out, 'wb') as handle:
            return self.traced(self.convert(*options, self.raw, '-'),
                               stdout=handle.fileno())

    def test_default_flushes_nothing(self) -> None:
        out = self.path('streamed.vhd')
        self.assertNoFlush(self.stream(False, out))
        base.qemu_compare(self, self.raw, out)

    def test_sync_flushes_the_file(self) -> None:
        out = self.path('streamed.vhd')
        calls = self.stream(True, out)
        self.assertIn(('fsync', out), [(c.name, c.path) for c in calls])
        base.qemu_compare(self, self.raw, out)

    def test_sync_to_a_pipe_has_nothing_to_flush(self) -> None:
        calls = self.traced(self.convert('--sync', self.raw, '-'),
                            stdout=subprocess.DEVNULL)
        self.assertNoFlush(calls)


class VhdUtilModesTest(SyncModeTest):
    """The drop-in: default like DIB's own cp, ``DIB_VHD_SYNC=1`` durable."""

    def setUp(self) -> None:
        super().setUp()
        self.disk = self.path('disk')
        shutil.copyfile(self.raw, self.disk)

    def vhd_util(self, source: str, target: str, pair: str) -> List[str]:
        return VHD_UTIL + ['convert', '-s', pair[0], '-t', pair[1], '-i',
                           source, '-o', target]

    def steps(self, env: Dict[str, str]) -> Dict[str, List[Call]]:
        """DIB's steps: raw -> fixed in place, fixed -> dynamic via .bak,
        and fixed -> raw in place on a second copy; each one's calls.
        """
        fixed, vhd = self.path('disk.fixed'), self.path('disk.vhd')
        traces = {'01': self.traced(self.vhd_util(self.disk, fixed, '01'),
                                    env)}
        shutil.copyfile(fixed, self.path('again.fixed'))
        traces['12'] = self.traced(self.vhd_util(fixed, vhd, '12'), env)
        traces['10'] = self.traced(self.vhd_util(
            self.path('again.fixed'), self.path('again.raw'), '10'), env)
        base.qemu_compare(self, self.raw, vhd)
        base.qemu_compare(self, self.raw, self.path('again.raw'), 'raw')
        return traces

    def test_default_flushes_nothing(self) -> None:
        for pair, calls in self.steps({'DIB_VHD_TARGET': 'none'}).items():
            with self.subTest(pair):
                self.assertNoFlush(calls)

    def test_dib_vhd_sync_flushes_every_step(self) -> None:
        for pair, calls in self.steps({'DIB_VHD_TARGET': 'none',
                                       'DIB_VHD_SYNC': '1'}).items():
            with self.subTest(pair):
                # -s 1 -t 0 renames first and then cuts the footer off.
                self.assertFlushedThenNamed(calls, data_first=pair != '10')

    def test_create_follows_the_mode(self) -> None:
        """``vhd-util create`` writes its disk through the same output."""
        for sync in ('0', '1'):
            with self.subTest(sync=sync):
                out = self.path(f'empty-{sync}.vhd')
                calls = self.traced(VHD_UTIL + ['create', '-n', out, '-s',
                                                '100'],
                                    {'DIB_VHD_SYNC': sync})
                if sync == '1':
                    self.assertFlushedThenNamed(calls)
                else:
                    self.assertNoFlush(calls)
                check = base.run(VHD_UTIL + ['check', '-n', out])
                self.assertEqual(check.returncode, 0, check.stdout)

    def test_a_mistyped_switch_is_refused(self) -> None:
        result = base.run(self.vhd_util(self.disk, self.disk, '01'),
                          env=dict(os.environ, DIB_VHD_SYNC='yse'))
        self.assertOneLine(result, 'DIB_VHD_SYNC', "'yse'")
        self.assertEqual(os.path.getsize(self.disk), 16 * MiB)
