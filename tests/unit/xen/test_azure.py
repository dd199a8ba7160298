"""``check --for azure``: each of Azure's rules, on disks made by real tools.

qemu-img's own Azure recipe (``subformat=fixed,force_size=on``) passes;
the same disk without ``force_size`` (a CHS-rounded size) fails on its
size; a dynamic disk is told to be converted with ``--for azure``.
"""

from __future__ import annotations

import json
import lzma
import os
import shutil

from diskimage_vhd import assess
from diskimage_vhd import convert
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.xen import azure
from diskimage_vhd.xen.readiness import Level
from tests import base

MiB = base.MiB


class TestAzureRules(base.TempDirTestCase):

    def qemu_fixed(self, name: str, size: str, *options: str) -> str:
        qemu = base.require_qemu_img(self)
        path = self.path(name)
        opts = ','.join(('subformat=fixed',) + options)
        done = base.run([qemu, 'create', '-q', '-f', 'vpc', '-o', opts, path,
                         size])
        self.assertEqual(done.returncode, 0, done.stderr)
        return path

    def codes(self, path: str, level: Level = Level.PROBLEM) -> list:
        return [f.code for f in assess(path, 'azure').at(level)]

    def test_qemu_force_size_disk_is_ready(self) -> None:
        path = self.qemu_fixed('forced.vhd', '21M', 'force_size=on')
        readiness = assess(path, 'azure')
        self.assertTrue(readiness.ready, readiness.findings)
        self.assertEqual(readiness.warnings, [])
        self.assertEqual([f.code for f in readiness.notes], ['upload-size'])
        self.assertIn(f'--upload-size-bytes {21 * MiB + 512}',
                      readiness.notes[0].text)

    def test_a_windows_fixed_disk_of_whole_mib(self) -> None:
        # Windows 10's own 10 MiB fixed disk (tests/fixtures/world): its
        # geometry (301/4/17) is short of the size, which Azure never
        # reads; every rule holds but the upload minimum of 20 MiB.
        path = self.path('win10-fixed.vhd')
        with lzma.open(os.path.join(base.REPO_ROOT, 'tests', 'fixtures',
                                    'world', 'win10-fixed.vhd.xz')) as src, \
                open(path, 'wb') as dst:
            shutil.copyfileobj(src, dst)
        readiness = assess(path, 'azure')
        self.assertEqual([f.code for f in readiness.problems],
                         ['upload-too-small'])
        self.assertEqual(readiness.warnings, [])
        self.assertEqual([f.code for f in readiness.notes], ['upload-size'])
        self.assertIn(f'--upload-size-bytes {10 * MiB + 512}',
                      readiness.notes[0].text)

    def test_qemu_chs_rounded_disk_is_not_whole_mib(self) -> None:
        path = self.qemu_fixed('chs.vhd', '21M')
        self.assertEqual(self.codes(path), ['size-not-mib'])

    def test_dynamic_disk_is_told_to_convert_for_azure(self) -> None:
        raw = base.make_raw(self.path('in.raw'), 24 * MiB, [(0, b'data')])
        dynamic = convert(raw, self.path('d.vhd')).destination
        problems = assess(dynamic, 'azure').problems
        self.assertEqual([f.code for f in problems], ['not-fixed'])
        self.assertIn('convert it with "diskimage-vhd convert --for azure"',
                      problems[0].text)
        fixed = convert(dynamic, self.path('a.vhd'), target='azure')
        self.assertTrue(assess(fixed.destination, 'azure').ready)

    def test_file_size_must_be_the_disk_and_footer(self) -> None:
        # Whole MiB in the footer, a sector more of data before it.
        footer = Footer.for_xenserver(c.DISK_TYPE_FIXED, 21 * MiB, 1, b'u' * 16)
        path = base.make_raw(self.path('long.vhd'), 21 * MiB + 512)
        with open(path, 'ab') as handle:
            handle.write(footer.pack())
        self.assertEqual(self.codes(path), ['file-size'])

    def test_upload_limits(self) -> None:
        small = convert(base.make_raw(self.path('s.raw'), 20 * MiB - 1),
                        self.path('s.vhd'), target='azure').destination
        self.assertEqual(os.path.getsize(small), azure.UPLOAD_MIN)
        self.assertEqual(self.codes(small), [])
        smaller = convert(base.make_raw(self.path('t.raw'), 19 * MiB),
                          self.path('t.vhd'), target='azure').destination
        self.assertEqual(self.codes(smaller), ['upload-too-small'])

    def test_over_os_disk_limit_is_a_warning(self) -> None:
        # A sparse fixed disk of 4 TiB and a MiB: larger than any this
        # package writes, as a foreign tool may make it.
        size = azure.OS_DISK_MAX + MiB
        footer = Footer.for_xenserver(c.DISK_TYPE_FIXED, size, 1, b'u' * 16)
        path = self.path('huge.vhd')
        with open(path, 'wb') as handle:
            handle.truncate(size)
            handle.seek(size)
            handle.write(footer.pack())
        readiness = assess(path, 'azure')
        self.assertTrue(readiness.ready, readiness.findings)
        self.assertEqual([f.code for f in readiness.warnings],
                         ['over-os-disk-limit'])

    def test_bad_checksum_and_no_footer(self) -> None:
        path = self.qemu_fixed('sum.vhd', '21M', 'force_size=on')
        with open(path, 'r+b') as handle:
            handle.seek(-512 + Footer.OFFSETS['checksum'] + 3, os.SEEK_END)
            last = handle.read(1)[0]
            handle.seek(-1, os.SEEK_CUR)
            handle.write(bytes([last ^ 1]))
        self.assertEqual(self.codes(path), ['footer-checksum'])
        raw = base.make_raw(self.path('plain.raw'), 21 * MiB)
        self.assertEqual(self.codes(raw), ['no-footer'])

    def test_not_a_file(self) -> None:
        fifo = self.path('fifo')
        os.mkfifo(fifo)
        for path, kind in ((self.tmp, 'is a directory'),
                           (fifo, 'is not a regular file or block device')):
            with self.subTest(kind=kind):
                problems = assess(path, 'azure').problems
                self.assertEqual([f.code for f in problems], ['not-a-file'])
                self.assertEqual(problems[0].text, f'{path} {kind}: Azure '
                                 'takes a file, uploaded byte for byte')

    def test_cli_verdict_and_json(self) -> None:
        path = self.qemu_fixed('chs.vhd', '21M')
        result = base.run_module('diskimage_vhd', 'check', '--for', 'azure',
                                 path)
        self.assertEqual(result.returncode, 22, result.stderr)
        self.assertEqual(result.stdout.splitlines()[-1],
                         f'{path} is not ready for azure: 1 problem '
                         '(size-not-mib)')
        result = base.run_module('diskimage_vhd', 'check', '--for', 'azure',
                                 '--json', path)
        self.assertEqual(result.returncode, 22, result.stderr)
        verdict = json.loads(result.stdout)
        self.assertEqual((verdict['target'], verdict['ready']),
                         ('azure', False))
        self.assertEqual([p['code'] for p in verdict['problems']],
                         ['size-not-mib'])
