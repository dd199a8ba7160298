"""``diskimage-vhd info`` and ``check`` through the real command."""

from __future__ import annotations

import json
import os
import shutil

from diskimage_vhd import convert
from tests import base


class TestInfo(base.TempDirTestCase):

    def info(self, path: str) -> dict:
        result = base.run_module('diskimage_vhd', 'info', '--json', path)
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout)

    def test_fixture_summary(self) -> None:
        info = self.info(base.fixture('mixed.prealloc.vhd'))
        self.assertEqual(info['format'], 'dynamic')
        self.assertEqual(info['virtual_size'], 6 * base.MiB)
        self.assertEqual(info['allocated_blocks'], 2)
        self.assertEqual(info['blocks'], 3)
        self.assertEqual(info['max_size'], 2048 * base.MiB)
        self.assertEqual(info['creator'], 'tap')
        self.assertEqual(info['creator_version'], '1.3')
        self.assertEqual(info['created'], '2026-11-25T21:17:05Z')
        self.assertEqual(info['uuid'],
                         str(base.FIXTURE_UUIDS['mixed.prealloc.vhd']))
        self.assertTrue(info['batmap'])

    def test_raw_and_fixed(self) -> None:
        raw = self.info(base.fixture('mixed.raw'))
        self.assertEqual((raw['format'], raw['virtual_size']), ('raw', 5244416))
        fixed = self.info(base.fixture('mixed.fixed.vhd'))
        self.assertEqual((fixed['format'], fixed['virtual_size']),
                         ('fixed', 5244416))

    def test_readable_text(self) -> None:
        result = base.run_module('diskimage_vhd', 'info',
                                 base.fixture('mixed.sparse.vhd'))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn('virtual size:     6 MiB (6291456 bytes)', result.stdout)
        self.assertIn('allocated blocks: 2', result.stdout)


class TestCheck(base.TempDirTestCase):

    def check(self, path: str, *options: str):
        return base.run_module('diskimage_vhd', 'check', *options, path)

    def test_our_output_is_valid_without_warnings(self) -> None:
        raw = base.make_raw(self.path('in.raw'), 9 * base.MiB,
                            [(5, b'data'), (7 * base.MiB, b'more')])
        vhd = self.path('out.vhd')
        convert(raw, vhd, max_size=2 * 1024 ** 4)
        result = self.check(vhd, '--bitmaps')
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertEqual(result.stdout, f'{vhd} is valid\n')

    def test_qemu_made_disk_gets_xenserver_warnings(self) -> None:
        base.require_qemu_img(self)
        raw = base.make_raw(self.path('in.raw'), 9 * base.MiB, [(5, b'x')])
        made = self.path('qemu.vhd')
        result = base.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vpc',
                           raw, made])
        self.assertEqual(result.returncode, 0, result.stderr)
        result = self.check(made, '--json')
        self.assertEqual(result.returncode, 0, result.stdout)
        report = json.loads(result.stdout)
        self.assertTrue(report['valid'])
        warnings = '\n'.join(report['warnings'])
        self.assertIn("creator is 'qemu'", warnings)
        self.assertIn('no batmap', warnings)
        # Re-laid by us, the same disk has nothing left to warn about.
        xen = self.path('xen.vhd')
        convert(made, xen)
        self.assertEqual(json.loads(self.check(xen, '--json').stdout)
                         ['warnings'], [])

    def test_fixed_disk_warning(self) -> None:
        result = self.check(base.fixture('mixed.fixed.vhd'))
        self.assertEqual(result.returncode, 0)
        self.assertIn('warning: ', result.stdout)
        self.assertIn('fixed', result.stdout)

    def test_corrupt_disk_exits_22(self) -> None:
        path = self.path('bad.vhd')
        shutil.copy(base.fixture('mixed.sparse.vhd'), path)
        os.chmod(path, 0o644)
        with open(path, 'r+b') as handle:
            handle.seek(512 + 36)
            handle.write(b'\0\0\0\0')
        result = self.check(path)
        self.assertEqual(result.returncode, 22)
        self.assertIn(f'{path} is invalid: header is invalid: invalid checksum',
                      result.stdout)

    def test_missing_file(self) -> None:
        missing = self.path('missing.vhd')
        result = self.check(missing)
        self.assertNotEqual(result.returncode, 0)
        self.assertNotEqual(result.returncode, 22)
        self.assertEqual(result.stderr.count('\n'), 1)
        self.assertIn(missing, result.stderr)


class TestVersion(base.TempDirTestCase):

    def test_both_commands_name_the_installed_version(self) -> None:
        from importlib import metadata
        installed = metadata.version('diskimage-vhd')
        result = base.run_module('diskimage_vhd', '--version')
        self.assertEqual(result.stdout.strip(), f'diskimage-vhd {installed}')
        result = base.run_module('diskimage_vhd.vhdutil', '--version')
        self.assertEqual(result.stdout.strip(),
                         f'vhd-util (diskimage-vhd) {installed}')
