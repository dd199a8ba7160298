"""Each import rule broken once, seen through the API and the command.

The disks are made here: sfdisk and mkfs on plain files, converted by the
package (or by qemu-img, for a foreign creator); a rule is broken by
editing the footer through the Footer class, checksums recomputed.
"""

from __future__ import annotations

import json
import os
import time
from typing import List

from diskimage_vhd import assess
from diskimage_vhd import convert
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.xen import bootrule
from diskimage_vhd.xen.readiness import Level
from diskimage_vhd.xen.targets import Readiness
from tests import base
from tests import bootable
from tests import disks
from tests.disks import MiB

GIB = 1024 ** 3
TODAYS_KEYS = {'path', 'valid', 'error', 'detail', 'warnings', 'exit_code',
               'disk_type', 'code', 'virtual_size'}
NEW_KEYS = {'target', 'ready', 'problems', 'notes', 'image_properties'}


def codes(readiness: Readiness, level: Level) -> List[str]:
    return [f.code for f in readiness.findings if f.level is level]


def not_boot(found: List[str]) -> List[str]:
    """The codes of every rule but the boot rule."""
    return [code for code in found if code not in bootrule.CODES]


def edit_footers(path: str, **fields) -> None:
    """Change every footer copy of ``path`` (one for fixed, two for dynamic)."""
    with open(path, 'r+b') as handle:
        size = handle.seek(0, os.SEEK_END)
        offsets = [size - c.FOOTER_SIZE]
        handle.seek(0)
        if Footer.parse(handle.read(c.FOOTER_SIZE)).cookie == c.FOOTER_COOKIE:
            offsets.append(0)
        for offset in offsets:
            handle.seek(offset)
            footer = Footer.parse(handle.read(c.FOOTER_SIZE)).replace(**fields)
            footer.checksum = footer.computed_checksum()
            handle.seek(offset)
            handle.write(footer.pack())


class ReadinessTestCase(base.TempDirTestCase):

    def one_partition(self, kind: str = 'ext4', label: str = 'dos') -> str:
        """The disk nova can grow: partition 1 holding ``kind`` (and GRUB
        in the gap after an MBR, so that the firmware can start it).
        """
        raw = disks.layout(self, self.path(f'{kind}.raw'), label, (kind,))
        if label == 'dos':
            bootable.grub_bios(self, raw)
        return raw

    def vhd(self, raw: str, **options) -> str:
        out = os.path.splitext(raw)[0] + '.' + options.get(
            'target_format', 'dynamic') + '.vhd'
        convert(raw, out, **options)
        return out

    def check_for(self, path: str, target: str, *extra: str):
        return base.run_module('diskimage_vhd', 'check', '--for', target,
                               *extra, path)

    def json_for(self, path: str, target: str, code: int) -> dict:
        result = self.check_for(path, target, '--json')
        self.assertEqual(result.returncode, code, result.stdout + result.stderr)
        return json.loads(result.stdout)


class TestReady(ReadinessTestCase):

    def test_one_ext4_partition_is_ready_for_both(self) -> None:
        vhd = self.vhd(self.one_partition())
        xen = assess(vhd, 'xenserver')
        self.assertTrue(xen.ready)
        self.assertEqual([f.code for f in xen.findings],
                         ['boot-path', 'image-properties', 'vdi-import'])
        self.assertEqual(xen.image_properties, {
            'disk_format': 'vhd', 'container_format': 'ovf', 'min_disk': 1})
        rack = assess(vhd, 'rackspace')
        self.assertTrue(rack.ready)
        self.assertEqual(codes(rack, Level.WARNING), [])
        # Far below 10 GiB: every flavour takes it, no physical-size note.
        self.assertEqual(codes(rack, Level.NOTE),
                         ['boot-path', 'image-properties'])
        self.assertEqual(rack.image_properties['auto_disk_config'], 'True')
        # The command: today's keys, the new ones, objects with codes.
        report = self.json_for(vhd, 'rackspace', 0)
        self.assertEqual(set(report), TODAYS_KEYS | NEW_KEYS)
        self.assertEqual(report['target'], 'rackspace')
        self.assertIs(report['ready'], True)
        self.assertEqual(report['problems'], [])
        self.assertEqual(report['warnings'], [])
        self.assertEqual([n['code'] for n in report['notes']],
                         ['boot-path', 'image-properties'])
        self.assertEqual(report['image_properties'], {
            'disk_format': 'vhd', 'container_format': 'ovf', 'min_disk': 1,
            'auto_disk_config': 'True', 'vm_mode': 'hvm',
            'img_config_drive': 'mandatory'})
        text = self.check_for(vhd, 'xenserver')
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertEqual(text.stdout.splitlines()[-1],
                         f'{vhd} is ready for xenserver')
        self.assertTrue(text.stdout.startswith('note: boots through BIOS: '
                                               'GRUB 2 in the MBR'))
        self.assertIn('note: upload with the image properties '
                      'disk_format=vhd', text.stdout)

    def test_ext3_in_a_gpt_partition_grows_too(self) -> None:
        rack = assess(self.vhd(self.one_partition('ext3', 'gpt')), 'rackspace')
        self.assertEqual(rack.image_properties['auto_disk_config'], 'True')

    def test_min_disk_rounds_the_virtual_size_up(self) -> None:
        raw = base.make_raw(self.path('big.raw'), 3 * GIB + 2 * MiB)
        self.assertEqual(assess(self.vhd(raw), 'xenserver')
                         .image_properties['min_disk'], 4)


class TestPartitionRules(ReadinessTestCase):
    """nova's _auto_configure_disk: one partition, numbered 1, ext3/4."""

    def assertNotResizable(self, raw: str, reason: str) -> None:
        # These disks have no boot loader: the boot rule's findings are
        # tested in test_boot_rule and set aside here.
        rack = assess(self.vhd(raw), 'rackspace')
        self.assertEqual(not_boot(codes(rack, Level.PROBLEM)), [])
        self.assertEqual(rack.image_properties['auto_disk_config'], 'False')
        self.assertEqual(not_boot(codes(rack, Level.WARNING)),
                         ['partitions-not-resizable'])
        self.assertIn(reason, rack.warnings[0].message)
        self.assertIn('auto_disk_config=False', rack.warnings[0].text)
        # xenserver does not judge partitions.
        self.assertEqual(not_boot(codes(assess(self.vhd(raw), 'xenserver'),
                                        Level.WARNING)), [])

    def test_no_partition_table(self) -> None:
        raw = base.make_raw(self.path('whole.raw'), 40 * MiB)
        disks.put_filesystem(self, raw, 0, 40 * MiB, 'ext4')
        self.assertNotResizable(raw, 'the disk has no partition table (the '
                                     'ext4 file system fills it)')

    def test_two_partitions(self) -> None:
        raw = disks.layout(self, self.path('two.raw'), 'dos', ('ext4', 'swap'))
        self.assertNotResizable(raw, 'the disk has 2 partitions (1: ext4, '
                                     '2: swap), not one')

    def test_file_system_nova_cannot_grow(self) -> None:
        for kind in ('xfs', 'ext2', 'btrfs'):
            with self.subTest(kind=kind):
                raw = disks.layout(self, self.path(f'{kind}.raw'), 'gpt',
                                   (kind,))
                self.assertNotResizable(raw, f'partition 1 holds {kind}')

    def test_only_partition_is_not_number_one(self) -> None:
        raw = disks.partition(self, self.path('p2.raw'), 48 * MiB,
                              f'label: dos\n{self.path("p2.raw")}2 : '
                              'start=2048, size=40M, type=83\n')
        disks.put_filesystem(self, raw, MiB, 40 * MiB, 'ext4')
        self.assertNotResizable(raw, 'the only partition is numbered 2, not 1')

    def test_command_reports_the_reason(self) -> None:
        raw = disks.layout(self, self.path('two.raw'), 'dos', ('ext4', 'ext4'))
        bootable.grub_bios(self, raw)
        report = self.json_for(self.vhd(raw), 'rackspace', 0)
        self.assertEqual(report['image_properties']['auto_disk_config'],
                         'False')
        self.assertEqual(report['warnings'][0]['code'],
                         'partitions-not-resizable')
        self.assertIn('2 partitions (1: ext4, 2: ext4)',
                      report['warnings'][0]['message'])


class TestXenServerRules(ReadinessTestCase):
    """Each rule broken once: a problem, exit 22, plain check unchanged."""

    def setUp(self) -> None:
        super().setUp()
        self.raw = self.one_partition()

    def assertProblem(self, vhd: str, code: str, now=None) -> Readiness:
        for target in ('xenserver', 'rackspace'):
            readiness = assess(vhd, target, now=now)
            self.assertFalse(readiness.ready)
            self.assertIn(code, codes(readiness, Level.PROBLEM))
        if now is None:
            report = self.json_for(vhd, 'xenserver', 22)
            self.assertIs(report['ready'], False)
            self.assertIn(code, [p['code'] for p in report['problems']])
            text = self.check_for(vhd, 'xenserver')
            self.assertEqual(text.returncode, 22)
            self.assertRegex(text.stdout, rf'(?m)^problem: .* \[{code}\]$')
            self.assertRegex(text.stdout.splitlines()[-1],
                             rf'is not ready for xenserver: \d problems? '
                             rf'\(.*{code}.*\)$')
        return readiness

    def test_vhd_util_check(self) -> None:
        vhd = self.vhd(self.raw)
        with open(vhd, 'r+b') as handle:  # the header's checksum
            handle.seek(512 + 36)
            handle.write(b'\0\0\0\0')
        readiness = self.assertProblem(vhd, 'vhd-util-check')
        self.assertFalse(readiness.report.valid)
        self.assertIn(readiness.report.error, readiness.problems[0].message)
        self.assertEqual(base.run_module('diskimage_vhd', 'check',
                                         vhd).returncode, 22)

    def test_raw_image_is_not_a_vhd(self) -> None:
        # Its one problem; nothing about partitions, sizes or the upload.
        for target in ('rackspace', 'xenserver'):
            readiness = assess(self.raw, target)
            self.assertEqual([(f.level, f.code) for f in readiness.findings],
                             [(Level.PROBLEM, 'vhd-util-check')])
            self.assertEqual(readiness.image_properties, {})
        self.assertProblem(self.raw, 'vhd-util-check')

    def test_fixed_disk(self) -> None:
        vhd = self.vhd(self.raw, target_format='fixed')
        self.assertProblem(vhd, 'fixed-disk')
        self.assertEqual(base.run_module('diskimage_vhd', 'check',
                                         vhd).returncode, 0)

    def test_qemu_made_disk(self) -> None:
        base.require_qemu_img(self)
        vhd = self.path('qemu.vhd')
        result = base.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vpc',
                           self.raw, vhd])
        self.assertEqual(result.returncode, 0, result.stderr)
        readiness = self.assertProblem(vhd, 'creator-not-tap')
        self.assertIn('no-batmap', codes(readiness, Level.WARNING))

    def test_no_batmap(self) -> None:
        # tapdisk 0.1: libvhd does not look for a batmap.
        vhd = self.vhd(self.raw)
        edit_footers(vhd, creator_version=0x00000001)
        readiness = assess(vhd, 'xenserver')
        self.assertTrue(readiness.report.valid, readiness.report.error)
        self.assertTrue(readiness.ready)
        self.assertEqual(codes(readiness, Level.WARNING), ['no-batmap'])
        self.assertIn('no batmap', ' '.join(readiness.report.warnings))

    def test_tap_1_1_with_a_batmap_has_one_for_check_and_check_for(
            self) -> None:
        # libvhd looks for a tapdisk 1.1 disk's batmap, and finds it.
        vhd = self.vhd(self.raw)
        edit_footers(vhd, creator_version=0x00010001)
        readiness = assess(vhd, 'xenserver')
        self.assertTrue(readiness.report.valid, readiness.report.error)
        self.assertEqual(codes(readiness, Level.WARNING), [])
        self.assertNotIn('no batmap', ' '.join(readiness.report.warnings))

    def test_hidden(self) -> None:
        vhd = self.vhd(self.raw)
        edit_footers(vhd, hidden=1)
        self.assertProblem(vhd, 'hidden')
        plain = json.loads(base.run_module('diskimage_vhd', 'check', '--json',
                                           vhd).stdout)
        self.assertEqual((plain['valid'], plain['warnings']), (True, []))

    def test_has_parent(self) -> None:
        vhd = self.vhd(self.raw)
        edit_footers(vhd, disk_type=c.DISK_TYPE_DIFFERENCING)
        self.assertProblem(vhd, 'has-parent')
        rack = assess(vhd, 'rackspace')
        self.assertEqual(rack.image_properties['auto_disk_config'], 'False')
        self.assertIn('differencing', rack.warnings[0].message)

    def test_future_timestamp(self) -> None:
        vhd = self.vhd(self.raw)
        stamp = int(time.time()) + 7200
        edit_footers(vhd, timestamp=stamp - c.VHD_EPOCH)
        self.assertProblem(vhd, 'future-timestamp')
        # Within vhd-util's 30 minutes of slack: a warning, still ready.
        soon = assess(vhd, 'xenserver', now=stamp - 600)
        self.assertTrue(soon.ready)
        self.assertEqual(codes(soon, Level.WARNING), ['future-timestamp'])
        late = assess(vhd, 'xenserver', now=stamp - 3600)
        self.assertEqual(codes(late, Level.PROBLEM),
                         ['vhd-util-check', 'future-timestamp'])

    def test_too_large_and_over_one_tib(self) -> None:
        tib = self.vhd(base.make_raw(self.path('tib.raw'), 1024 ** 4 + 2 * MiB))
        readiness = assess(tib, 'xenserver')
        # All zeros: the boot rule's empty-disk, set aside here.
        self.assertEqual(codes(readiness, Level.PROBLEM), ['empty-disk'])
        self.assertEqual(codes(readiness, Level.WARNING), ['over-1tib'])
        edit_footers(tib, current_size=2041 * GIB, original_size=2041 * GIB)
        readiness = self.assertProblem(tib, 'too-large')
        self.assertEqual(readiness.image_properties['min_disk'], 2041)


class TestPhysicalSize(ReadinessTestCase):
    """nova's _check_vdi_size: noted only when it rules a flavour out."""

    def test_ten_gib_boundary(self) -> None:
        # A fixed disk's file is its data and a 512-byte footer.
        for data, smallest in ((10 * GIB - c.FOOTER_SIZE, None),
                               (10 * GIB, 1),
                               (12 * GIB - c.FOOTER_SIZE, 2)):
            with self.subTest(data=data):
                vhd = self.vhd(base.make_raw(self.path(f'p{data}.raw'), data),
                               target_format='fixed')
                notes = [f for f in assess(vhd, 'rackspace').notes
                         if f.code == 'physical-size']
                if smallest is None:
                    self.assertEqual(notes, [])
                else:
                    self.assertEqual(len(notes), 1)
                    self.assertIn(f'a root disk of {smallest} GiB or more',
                                  notes[0].fix)


class TestCloudFiles(ReadinessTestCase):

    def test_five_gb_boundary(self) -> None:
        limit = 5 * 10 ** 9
        for extra, noted in ((0, False), (512, True)):
            with self.subTest(extra=extra):
                raw = base.make_raw(self.path(f'five{extra}.raw'),
                                    limit - c.FOOTER_SIZE + extra)
                vhd = self.vhd(raw, target_format='fixed')
                self.assertEqual(os.path.getsize(vhd), limit + extra)
                rack = assess(vhd, 'rackspace')
                self.assertEqual('cloud-files-5gb' in codes(rack, Level.NOTE),
                                 noted)
                self.assertNotIn('cloud-files-5gb',
                                 [f.code for f in assess(vhd, 'xenserver')
                                  .findings])


class TestConvertFor(ReadinessTestCase):

    def test_ready_output_exits_zero(self) -> None:
        raw = self.one_partition()
        out = self.path('out.vhd')
        result = base.run_module('diskimage_vhd', 'convert', '--for',
                                 'rackspace', raw, out)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr.splitlines()[-1],
                         f'{out} is ready for rackspace')
        quiet = base.run_module('diskimage_vhd', 'convert', '-q', '--for',
                                'rackspace', raw, self.path('quiet.vhd'))
        self.assertEqual((quiet.returncode, quiet.stdout, quiet.stderr),
                         (0, '', ''))

    def test_not_ready_output_is_kept_and_exits_22(self) -> None:
        raw = self.one_partition()
        out = self.path('out.vhd')
        for extra in ([], ['-q']):
            with self.subTest(extra=extra):
                result = base.run_module('diskimage_vhd', 'convert', *extra,
                                         '--to', 'fixed', '--for',
                                         'xenserver', raw, out)
                self.assertEqual(result.returncode, 22, result.stderr)
                lines = result.stderr.splitlines()
                problems = [line for line in lines
                            if line.startswith('problem: ')]
                self.assertEqual(len(problems), 1)
                self.assertRegex(problems[0], r'^problem: fixed disk: .*'
                                              r'\[fixed-disk\]$')
                if extra:  # quiet: the problem and the verdict only
                    self.assertEqual(len(lines), 2)
                self.assertEqual(lines[-1], f'{out} is not ready for '
                                            'xenserver: 1 problem '
                                            '(fixed-disk)')
                base.qemu_compare(self, raw, out)

    def test_for_does_not_apply_to_raw_output(self) -> None:
        raw = self.one_partition()
        result = base.run_module('diskimage_vhd', 'convert', '--to', 'raw',
                                 '--for', 'xenserver', raw, self.path('o'))
        self.assertEqual(result.returncode, 2)
        self.assertIn('--for checks a VHD', result.stderr)
        self.assertFalse(os.path.exists(self.path('o')))


class TestDibTarget(ReadinessTestCase):
    """DIB's last step, vhd-util convert -s 1 -t 2, checks its output."""

    def dib_convert(self, raw: str, target=None):
        """What disk-image-create -t vhd runs, with DIB_VHD_TARGET."""
        env = dict(os.environ)
        env.pop('DIB_VHD_TARGET', None)
        if target is not None:
            env['DIB_VHD_TARGET'] = target
        fixed = raw + '.fixed'
        first = base.run_module('diskimage_vhd.vhdutil', 'convert', '-s', '0',
                                '-t', '1', '-i', raw, '-o', fixed, env=env)
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertNotIn('checking', first.stderr)  # only the last step
        return base.run_module('diskimage_vhd.vhdutil', 'convert', '-s', '1',
                               '-t', '2', '-i', fixed, '-o', raw + '.vhd',
                               env=env)

    def test_default_is_xenserver(self) -> None:
        raw = self.one_partition()
        result = self.dib_convert(raw)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f'checking {raw}.vhd for import into xenserver',
                      result.stderr)
        self.assertEqual(result.stderr.splitlines()[-1],
                         f'vhd-util: {raw}.vhd is ready for xenserver')

    def test_rackspace_refuses_partitionless_disk(self) -> None:
        raw = base.make_raw(self.path('whole.raw'), 40 * MiB)
        disks.put_filesystem(self, raw, 0, 40 * MiB, 'ext4')
        result = self.dib_convert(raw, 'rackspace')
        self.assertEqual(result.returncode, 22, result.stderr)
        self.assertRegex(result.stderr, r'vhd-util: problem: .*no boot '
                                        r'loader.*\[no-boot-loader\]')
        self.assertRegex(result.stderr, r'vhd-util: warning: the root disk '
                                        r'will not grow .*no partition table'
                                        r'.*\[partitions-not-resizable\]')
        self.assertIn('auto_disk_config=False', result.stderr)

    def test_none_turns_the_check_off(self) -> None:
        result = self.dib_convert(self.one_partition(), 'none')
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn('checking', result.stderr)

    def test_unknown_target_fails_before_converting(self) -> None:
        raw = self.one_partition()
        result = self.dib_convert(raw, 'openstack')
        self.assertEqual(result.returncode, 2)
        self.assertEqual(result.stderr.strip(),
                         "vhd-util: DIB_VHD_TARGET: 'openstack' is not one "
                         'of xenserver, rackspace, azure, none')
        self.assertTrue(os.path.exists(raw + '.fixed'))  # not renamed
        self.assertFalse(os.path.exists(raw + '.vhd'))

    def test_a_problem_fails_naming_the_rule_and_the_fix(self) -> None:
        from diskimage_vhd.errors import InvalidVhdError
        from diskimage_vhd.vhdutil.target import check_output
        vhd = self.vhd(self.one_partition(), target_format='fixed')
        lines: List[str] = []
        with self.assertRaises(InvalidVhdError) as caught:
            check_output(vhd, 'xenserver', lines.append)
        self.assertEqual(caught.exception.exit_code, 22)
        self.assertIn('not ready for import into xenserver (fixed-disk)',
                      str(caught.exception))
        self.assertIn('DIB_VHD_TARGET=none', str(caught.exception))
        problem = [line for line in lines if 'problem:' in line]
        self.assertEqual(len(problem), 1)
        self.assertIn('convert it with "diskimage-vhd convert"', problem[0])
