"""What a disk or a name says never forges a line or drives the terminal,
and standard output that fails ends a command in one line.

The disks are real differencing disks (``tests.differencing``) whose
parent name holds a newline and escape sequences, and dynamic disks whose
creator field holds an ESC; the failing streams are real: ``/dev/full``
(ENOSPC), a closed pipe, an ASCII-only encoding.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import uuid

from diskimage_vhd.format.footer import Footer
from tests import base
from tests.differencing import make_child

FORGED = 'miss\nchild.vhd is valid\n\x1b]0;owned\x07\x1bc'
COMMANDS = [
    ('diskimage_vhd', 'info', '{}'),
    ('diskimage_vhd', 'check', '{}'),
    ('diskimage_vhd', 'check', '--for', 'xenserver', '{}'),
    ('diskimage_vhd.vhdutil.cli', 'check', '-n', '{}'),
    ('diskimage_vhd.vhdutil.cli', 'query', '-n', '{}', '-p'),
    ('diskimage_vhd.vhdutil.cli', 'read', '-p', '-n', '{}'),
]


def _argv(command: tuple, path: str) -> list:
    return [*base.module_argv(command[0]),
            *[path if part == '{}' else part for part in command[1:]]]


class SafeOutputTest(base.TempDirTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.child = make_child(self.path('child.vhd'), FORGED,
                                self.path('miss'), uuid.uuid4().bytes)

    def assertSafe(self, text: str) -> None:
        self.assertNotIn('\x1b', text)
        self.assertNotIn('\x07', text)
        for line in text.splitlines():
            self.assertFalse(line.startswith('child.vhd is valid'), text)

    def test_a_forged_parent_name_stays_escaped(self) -> None:
        for command in COMMANDS:
            with self.subTest(command=command[:3]):
                result = base.run(_argv(command, self.child))
                self.assertNotIn('Traceback', result.stderr)
                self.assertSafe(result.stdout + result.stderr)

    def test_an_escape_in_the_creator_field_stays_escaped(self) -> None:
        disk = self.path('creator.vhd')
        base.run_module('diskimage_vhd.vhdutil.cli', 'create', '-n', disk,
                        '-s', '4')
        with open(disk, 'r+b') as handle:
            data = bytearray(handle.read())
            footer = Footer.parse(bytes(data[-512:]))
            footer = footer.replace(creator_application=b'\x1b[2J')
            footer.checksum = footer.computed_checksum()
            data[:512] = data[-512:] = footer.pack()
            handle.seek(0)
            handle.write(data)
        for command in COMMANDS:
            with self.subTest(command=command[:3]):
                result = base.run(_argv(command, disk))
                self.assertNotIn('Traceback', result.stderr)
                self.assertSafe(result.stdout + result.stderr)

    def test_a_name_with_a_newline_is_one_line_of_error(self) -> None:
        name = self.path('two\nlines.vhd')
        result = base.run_module('diskimage_vhd', 'info', name)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
        self.assertIn('two\\nlines.vhd: no such file', result.stderr)

    def test_json_keeps_a_name_that_is_not_utf8_valid(self) -> None:
        import json
        name = os.fsdecode(b'caf\xe9.vhd')
        result = base.run_module('diskimage_vhd', 'info', '--json', name,
                                 cwd=self.tmp)
        decoded = json.loads(result.stdout)
        self.assertEqual(decoded['path'], 'caf\\xe9.vhd')
        result.stdout.encode('utf-8')  # no lone surrogate in it


class FailingOutputTest(base.TempDirTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.disk = self.path('café.vhd')
        base.run_module('diskimage_vhd.vhdutil.cli', 'create', '-n',
                        self.disk, '-s', '4')

    def test_a_full_device_is_one_line(self) -> None:
        commands = [
            ('diskimage_vhd', 'info', '{}'),
            ('diskimage_vhd', 'check', '{}'),
            ('diskimage_vhd.vhdutil.cli', 'check', '-n', '{}'),
            ('diskimage_vhd.vhdutil.cli', 'query', '-n', '{}', '-v'),
            ('diskimage_vhd.vhdutil.cli', 'read', '-p', '-n', '{}'),
        ]
        for command in commands:
            with self.subTest(command=command[:2]), \
                    open('/dev/full', 'w') as full:
                result = subprocess.run(_argv(command, self.disk), stdout=full,
                                        stderr=subprocess.PIPE, text=True)
                self.assertNotEqual(result.returncode, 0)
                self.assertEqual(result.stderr.strip().splitlines(), [
                    f'{"vhd-util" if "vhdutil" in command[0] else "diskimage-vhd"}'
                    ': standard output: no space left on device'])

    def test_a_full_non_blocking_pipe_is_one_line_not_lost_text(self) -> None:
        """EAGAIN: Python's own file object dropped what the pipe did not
        take, and the command exited 0 with its output cut short.
        """
        big = self.path('big.vhd')
        base.run_module('diskimage_vhd.vhdutil.cli', 'create', '-n', big,
                        '-s', '20000')
        reader, writer = os.pipe()
        self.addCleanup(os.close, reader)
        flags = fcntl.fcntl(writer, fcntl.F_GETFL)
        fcntl.fcntl(writer, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        try:
            result = subprocess.run(
                [*base.module_argv('diskimage_vhd.vhdutil.cli'), 'read', '-n',
                 big, '-b', '0', '-c', '10000'], stdout=writer,
                stderr=subprocess.PIPE, text=True)
        finally:
            os.close(writer)
        self.assertNotEqual(result.returncode, 0)
        self.assertEqual(result.stderr.strip().splitlines(), [
            'vhd-util: standard output: write could not complete without '
            'blocking'])

    def test_in_place_conversion_then_a_full_device(self) -> None:
        raw = base.make_raw(self.path('x.raw'), 4 * base.MiB,
                            [(0, b'data')])
        with open('/dev/full', 'w') as full:
            result = subprocess.run(
                [*base.module_argv('diskimage_vhd.vhdutil.cli'), 'convert',
                 '-s', '0', '-t', '1', '-i', raw, '-o', self.path('x.vhd')],
                stdout=full, stderr=subprocess.PIPE, text=True)
        self.assertNotEqual(result.returncode, 0)
        self.assertNotIn('Traceback', result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1)
        check = base.run_module('diskimage_vhd', 'check', self.path('x.vhd'))
        self.assertEqual(check.returncode, 0, check.stdout)

    def test_an_ascii_terminal_shows_the_name_escaped(self) -> None:
        for command in (('diskimage_vhd.vhdutil.cli', 'check', '-n', '{}'),
                        ('diskimage_vhd', 'check', '{}')):
            with self.subTest(command=command[:2]):
                result = base.run(_argv(command, self.disk),
                                  env=dict(os.environ, PYTHONIOENCODING='ascii'))
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertIn('caf\\xe9.vhd is valid', result.stdout)
