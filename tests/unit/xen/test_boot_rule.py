"""The boot rule of ``check --for``, on disks the boot loaders' tools made.

Each disk is partitioned by sfdisk, its file systems made by mke2fs and
mkfs.vfat (filled by ``mke2fs -d`` and mtools), its boot loader put in
place by grub-mkimage with GRUB's boot.img, or by extlinux itself; then
converted by the package and judged for both targets.
"""

from __future__ import annotations

import json
import random
import re

from diskimage_vhd import assess
from diskimage_vhd import convert
from diskimage_vhd.image.boot import boot_entry
from diskimage_vhd.image.boot import survey
from diskimage_vhd.image.partitions import read_partition_table
from diskimage_vhd.image.sources import RawSource
from diskimage_vhd.xen.bootrule import CODES
from diskimage_vhd.xen.readiness import Level
from tests import base
from tests import bootable
from tests import disks
from tests.disks import MiB

GRUB_CFG = {'/boot/grub/grub.cfg': bootable.GRUB_CFG.encode()}
EXTLINUX_CFG = {'/boot/extlinux/extlinux.conf':
                bootable.EXTLINUX_CONF.encode()}


class BootRuleTestCase(base.TempDirTestCase):

    def disk(self, script: str, size: int = 48 * MiB) -> str:
        path = self.path('disk.raw')
        return disks.partition(self, path, size, script)

    def verdicts(self, raw: str):
        vhd = raw + '.vhd'
        convert(raw, vhd)
        return vhd, assess(vhd, 'xenserver'), assess(vhd, 'rackspace')

    def boot_codes(self, readiness, level: Level):
        return [f.code for f in readiness.at(level) if f.code in CODES]

    def assertBoots(self, raw: str, path: str) -> None:
        vhd, xen, rack = self.verdicts(raw)
        for readiness in (xen, rack):
            self.assertTrue(readiness.ready, readiness.findings)
            self.assertEqual(self.boot_codes(readiness, Level.NOTE),
                             ['boot-path'])
            note, = (f for f in readiness.at(Level.NOTE)
                     if f.code == 'boot-path')
            self.assertIn(path, note.message)
        result = base.run_module('diskimage_vhd', 'check', '--for',
                                 'rackspace', vhd)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertRegex(result.stdout, 'note: boots through .*'
                         + re.escape(path) + r'.* \[boot-path\]')

    def assertNoBootLoader(self, raw: str, *said: str) -> None:
        vhd, xen, rack = self.verdicts(raw)
        for readiness in (xen, rack):
            self.assertFalse(readiness.ready)
            self.assertEqual(self.boot_codes(readiness, Level.PROBLEM),
                             ['no-boot-loader'])
            for text in said:
                self.assertIn(text, readiness.problems[0].message)
        report = json.loads(base.run_module(
            'diskimage_vhd', 'check', '--for', 'rackspace', '--json',
            vhd).stdout)
        self.assertIs(report['ready'], False)
        self.assertIn('no-boot-loader', [p['code'] for p in
                                         report['problems']])


class TestNoBootPath(BootRuleTestCase):

    def test_file_system_without_boot_loader(self) -> None:
        raw = self.disk('label: dos\nstart=2048, type=83\n')
        bootable.ext4_with(self, raw, MiB, 47 * MiB, bootable.boot_files())
        self.assertNoBootLoader(raw, 'no boot code in the MBR',
                                'looked in ext4 on partition 1')

    def test_partitionless_file_system(self) -> None:
        # What DIB builds without a partitioning element.
        raw = base.make_raw(self.path('whole.raw'), 40 * MiB)
        bootable.ext4_with(self, raw, 0, 40 * MiB, bootable.boot_files())
        self.assertNoBootLoader(raw, 'ext4 on the disk')

    def test_configuration_naming_a_missing_kernel(self) -> None:
        raw = self.disk('label: dos\nstart=2048, type=83\n')
        bootable.ext4_with(self, raw, MiB, 47 * MiB, GRUB_CFG)
        self.assertNoBootLoader(raw, '/boot/grub/grub.cfg on partition 1 '
                                     'names /boot/vmlinuz and '
                                     '/boot/initrd.img, which is not there')

    def test_grub_boot_code_without_core_image(self) -> None:
        raw = self.disk('label: dos\nstart=2048, type=83\n')
        bootable.ext4_with(self, raw, MiB, 47 * MiB, bootable.boot_files())
        bootable.grub_bios(self, raw)
        bootable.write(raw, bytes(512), 512)  # the core image's first sector
        self.assertNoBootLoader(raw, 'GRUB 2 boot code in the MBR, but no '
                                     'GRUB core image at sector 1')

    def test_esp_without_loader(self) -> None:
        raw = self.disk('label: gpt\nsize=20M, type=U\n')
        bootable.esp_with(self, raw, MiB, 20 * MiB,
                          {'/EFI/debian/grubx64.efi': b'MZ'})
        self.assertNoBootLoader(raw, 'vfat on partition 1')

    def test_all_zero_disk_is_refused(self) -> None:
        raw = base.make_raw(self.path('zero.raw'), 64 * MiB)
        vhd, xen, rack = self.verdicts(raw)
        for readiness in (xen, rack):
            self.assertEqual(self.boot_codes(readiness, Level.PROBLEM),
                             ['empty-disk'])
        result = base.run_module('diskimage_vhd', 'check', '--for',
                                 'xenserver', vhd)
        self.assertEqual(result.returncode, 22, result.stdout)
        self.assertIn('(empty-disk)', result.stdout.splitlines()[-1])


class TestPvOnly(BootRuleTestCase):

    def test_grub_configuration_only(self) -> None:
        raw = self.disk('label: dos\nstart=2048, type=83\n')
        bootable.ext4_with(self, raw, MiB, 47 * MiB,
                           {**GRUB_CFG, **bootable.boot_files()})
        vhd, xen, rack = self.verdicts(raw)
        self.assertEqual(self.boot_codes(rack, Level.PROBLEM),
                         ['pv-boot-only'])
        self.assertTrue(xen.ready)
        self.assertEqual(self.boot_codes(xen, Level.WARNING),
                         ['pv-boot-only'])
        self.assertIn('pygrub reads /boot/grub/grub.cfg on partition 1, '
                      'naming /boot/vmlinuz and /boot/initrd.img',
                      xen.warnings[0].message)
        self.assertIn('vm_mode=hvm', rack.problems[0].message)

    def test_extlinux_configuration_with_relative_names(self) -> None:
        raw = base.make_raw(self.path('whole.raw'), 40 * MiB)
        config = b'default l\nlabel l\n  kernel ../vmlinuz\n' \
                 b'  append initrd=../initrd.img root=/dev/xvda\n'
        bootable.ext4_with(self, raw, 0, 40 * MiB, {
            '/boot/extlinux/extlinux.conf': config, **bootable.boot_files()})
        _vhd, xen, _rack = self.verdicts(raw)
        self.assertEqual(self.boot_codes(xen, Level.WARNING),
                         ['pv-boot-only'])
        self.assertIn('naming /boot/vmlinuz and /boot/initrd.img',
                      xen.warnings[0].message)


class TestBiosAndUefi(BootRuleTestCase):

    def test_grub_in_the_gap_after_the_mbr(self) -> None:
        raw = self.disk('label: dos\nstart=2048, type=83, bootable\n')
        bootable.ext4_with(self, raw, MiB, 47 * MiB,
                           {**GRUB_CFG, **bootable.boot_files()})
        bootable.grub_bios(self, raw)
        self.assertBoots(raw, 'BIOS: GRUB 2 in the MBR, its core image in '
                              'the gap after the MBR (sector 1)')

    def test_grub_in_a_bios_boot_partition_on_gpt(self) -> None:
        raw = self.disk('label: gpt\nsize=1M, type=21686148-6449-6E6F-744E-'
                        '656564454649\ntype=L\n')
        start = disks.sfdisk_partitions(self, raw)[1][1]
        bootable.ext4_with(self, raw, start, 40 * MiB, bootable.boot_files())
        bootable.grub_bios(self, raw, core_sector=2048,
                           prefix='(hd0,gpt2)/boot/grub')
        self.assertBoots(raw, 'BIOS: GRUB 2 in the MBR, its core image in '
                              'the BIOS boot partition 1')

    def test_extlinux(self) -> None:
        raw = self.disk('label: dos\nstart=2048, type=83, bootable\n')
        bootable.extlinux_bios(self, raw, MiB, 47 * MiB,
                               {**EXTLINUX_CFG, **bootable.boot_files()})
        self.assertBoots(raw, 'BIOS: SYSLINUX boot code in the MBR, '
                              'extlinux in partition 1')

    def test_syslinux_mbr_without_an_active_partition(self) -> None:
        raw = self.disk('label: dos\nstart=2048, type=83\n')
        bootable.ext4_with(self, raw, MiB, 47 * MiB, bootable.boot_files())
        with open(bootable.SYSLINUX_MBR, 'rb') as handle:
            bootable.write(raw, handle.read()[:440], 0)
        self.assertNoBootLoader(raw, 'SYSLINUX boot code in the MBR, but no '
                                     'active partition')

    def test_efi_system_partition(self) -> None:
        raw = self.disk('label: gpt\nsize=20M, type=U\ntype=L\n')
        bootable.esp_with(self, raw, MiB, 20 * MiB,
                          {'/EFI/BOOT/BOOTX64.EFI': b'MZ' + bytes(4000)})
        self.assertBoots(raw, 'UEFI: /EFI/BOOT/BOOTX64.EFI on the FAT file '
                              'system of partition 1')

    def test_unknown_boot_code_is_a_warning(self) -> None:
        raw = self.disk('label: dos\nstart=2048, type=83\n')
        bootable.ext4_with(self, raw, MiB, 47 * MiB, bootable.boot_files())
        bootable.write(raw, b'\xfa\x31\xc0' + bytes(range(200)), 0)
        _vhd, xen, rack = self.verdicts(raw)
        for readiness in (xen, rack):
            self.assertTrue(readiness.ready)
            self.assertEqual(self.boot_codes(readiness, Level.WARNING),
                             ['boot-loader-unknown'])


class TestHostileFileSystems(BootRuleTestCase):

    def test_damaged_ext4_is_a_finding_not_a_traceback(self) -> None:
        raw = base.make_raw(self.path('whole.raw'), 40 * MiB)
        bootable.ext4_with(self, raw, 0, 40 * MiB,
                           {**GRUB_CFG, **bootable.boot_files()})
        # Keep the superblock, overwrite the group descriptors and the
        # inode tables after it with noise.
        bootable.write(raw, base.random_bytes(3 * MiB, seed=23), 4096)
        vhd, xen, _rack = self.verdicts(raw)
        self.assertEqual(self.boot_codes(xen, Level.PROBLEM),
                         ['no-boot-loader'])
        result = base.run_module('diskimage_vhd', 'check', '--for',
                                 'xenserver', vhd)
        self.assertEqual(result.returncode, 22)
        self.assertNotIn('Traceback', result.stdout + result.stderr)

    def test_fat_claiming_a_huge_table_is_not_parsed(self) -> None:
        raw = self.disk('label: gpt\nsize=20M, type=U\n')
        bootable.esp_with(self, raw, MiB, 20 * MiB,
                          {'/EFI/BOOT/BOOTX64.EFI': b'MZ'})
        # FAT32's sectors per FAT (offset 36) set to 2^31.
        bootable.write(raw, (2 ** 31).to_bytes(4, 'little'), MiB + 36)
        bootable.write(raw, bytes(2), MiB + 22)
        self.assertNoBootLoader(raw, 'larger than any EFI system partition')


class TestMutatedFileSystems(BootRuleTestCase):
    """Seeded noise in the metadata of an ext4 and a FAT partition: the
    survey always ends with a verdict, never an exception.
    """

    def test_noise_never_escapes(self) -> None:
        raw = self.disk('label: gpt\nsize=8M, type=U\nsize=24M, type=L\n')
        bootable.esp_with(self, raw, MiB, 8 * MiB,
                          {'/EFI/BOOT/BOOTX64.EFI': b'MZ'})
        bootable.ext4_with(self, raw, 9 * MiB, 24 * MiB,
                           {**GRUB_CFG, **bootable.boot_files()})
        with open(raw, 'rb') as handle:
            pristine = handle.read()
        rng = random.Random(23)
        for case in range(40):
            disk = bytearray(pristine)
            for _ in range(64):
                # The FAT's first 64 KiB or the ext4's first 2 MiB.
                base_offset, span = rng.choice([(MiB, 64 * 1024),
                                                (9 * MiB, 2 * MiB)])
                disk[base_offset + rng.randrange(span)] = rng.randrange(256)
            with open(raw, 'wb') as handle:
                handle.write(disk)
            with self.subTest(case=case), RawSource(raw) as source:
                found = survey(source, read_partition_table(source))
                self.assertIsInstance(found.paths, list)


class TestBootEntry(base.TempDirTestCase):
    """The first kernel and initrd of each configuration pygrub reads."""

    def test_keywords_of_each_boot_loader(self) -> None:
        cases = [
            (b'menuentry x {\n  linux (hd0,1)/vmlinuz ro\n  initrd /i\n}\n',
             '/boot/grub', ('/vmlinuz', '/i')),
            (b'title x\nroot (hd0,0)\nkernel /boot/k ro\ninitrd /boot/i\n',
             '/boot/grub', ('/boot/k', '/boot/i')),
            (b'LABEL x\n KERNEL vmlinuz\n APPEND initrd=initrd.img ro\n',
             '/boot/extlinux', ('/boot/extlinux/vmlinuz',
                                '/boot/extlinux/initrd.img')),
            (b'# nothing\n', '/', (None, None)),
        ]
        for text, folder, expected in cases:
            with self.subTest(text=text):
                self.assertEqual(boot_entry(text, folder), expected)
