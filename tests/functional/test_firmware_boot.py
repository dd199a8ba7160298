"""The converted VHD boots the way XenServer boots it.

HVM: qemu (TCG) with SeaBIOS and no ``-kernel`` starts the VHD file itself
(``format=vpc``): the firmware runs the MBR's boot code, the boot loader
prints a marker on the serial console and starts the kernel its
configuration names.  PV: pygrub, XenServer's PV boot loader (Debian's
xen-utils-4.17), reads the disk as tapdisk exposes it (qemu-img's raw
view of the VHD) and extracts the kernel, initrd and arguments, which then
boot.  The disks are partitioned by sfdisk, filled by ``mke2fs -d``, made
bootable by GRUB's own images or by extlinux; the kernel is Debian's
(linux-image-cloud-amd64).  Needs root for extlinux (a loop device).
"""

from __future__ import annotations

import os
import re
import subprocess
from typing import List

from diskimage_vhd import assess
from diskimage_vhd import convert
from tests import base
from tests import bootable
from tests import disks
from tests.disks import MiB

PYGRUB = '/usr/lib/xen-4.17/bin/pygrub'
# Ends a boot that hangs (a boot loader that cannot load the kernel
# retries forever); under TCG a boot to the kernel's panic takes seconds.
BOOT_TIMEOUT = 5 * 60
KERNEL_STARTED = 'Linux version'
INITRD_LOADED = 'Trying to unpack rootfs image as initramfs'
disks.PACKAGES.update({'qemu-system-x86_64': 'qemu-system-x86',
                       'qemu-img': 'qemu-utils'})


def initrd() -> bytes:
    """A newc cpio archive of one file: an initrd the kernel unpacks."""
    def entry(name: bytes, mode: int, data: bytes) -> bytes:
        fields = [1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0,
                  len(name) + 1, 0]
        head = b'070701' + b''.join(b'%08X' % f for f in fields)
        body = head + name + b'\0'
        body += bytes(-len(body) % 4) + data
        return body + bytes(-len(body) % 4)
    archive = entry(b'hello', 0o100644, b'booted\n') + entry(
        b'TRAILER!!!', 0, b'')
    return archive + bytes(-len(archive) % 512)


def serial_console(test: base.TempDirTestCase, args: List[str]) -> str:
    """Run qemu until the guest stops (``panic=-1`` and ``-no-reboot``
    end it when the kernel finds no root file system); its serial output.
    """
    qemu = disks.tool(test, 'qemu-system-x86_64')
    command = [qemu, '-accel', 'tcg', '-m', '256', '-display', 'none',
               '-no-reboot', '-nic', 'none', '-serial', 'stdio',
               '-monitor', 'none', *args]
    with subprocess.Popen(command, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT) as qemu:
        try:
            output = qemu.communicate(timeout=BOOT_TIMEOUT)[0]
        except subprocess.TimeoutExpired:
            qemu.kill()
            output = qemu.communicate()[0]
    return output.decode('utf-8', 'replace')


class FirmwareBootTest(base.TempDirTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.kernel = bootable.host_kernel(self)
        self.files = {'/boot/vmlinuz': self.kernel,
                      '/boot/initrd.img': initrd()}

    def grub_disk(self) -> str:
        raw = disks.partition(self, self.path('grub.raw'), 64 * MiB,
                              'label: dos\nstart=2048, type=83, bootable\n')
        bootable.ext4_with(self, raw, MiB, 63 * MiB, {
            **self.files, '/boot/grub/grub.cfg': bootable.GRUB_CFG.encode()})
        bootable.grub_bios(self, raw)
        return raw

    def extlinux_disk(self) -> str:
        raw = disks.partition(self, self.path('extlinux.raw'), 64 * MiB,
                              'label: dos\nstart=2048, type=83, bootable\n')
        bootable.extlinux_bios(self, raw, MiB, 63 * MiB, {
            **self.files,
            '/boot/extlinux/extlinux.conf': bootable.EXTLINUX_CONF.encode()})
        return raw

    def converted(self, raw: str) -> str:
        vhd = raw + '.vhd'
        convert(raw, vhd)
        readiness = assess(vhd, 'rackspace')
        self.assertTrue(readiness.ready, readiness.findings)
        self.assertIn('boot-path', [f.code for f in readiness.notes])
        return vhd

    def assertFirmwareBoots(self, vhd: str, reached: str) -> None:
        """The firmware starts the boot loader (it prints ``reached``),
        which starts the kernel with the initrd and the arguments.
        """
        console = serial_console(self, [
            '-drive', f'file={vhd},format=vpc,if=ide,snapshot=on'])
        self.assertIn(reached, console, console[-3000:])
        after = console[console.index(reached):]
        self.assertIn(KERNEL_STARTED, after, console[-3000:])
        self.assertIn(INITRD_LOADED, after, console[-3000:])
        self.assertRegex(after, r'Kernel command line: .*'
                         + re.escape(bootable.KERNEL_ARGS))

    def test_seabios_boots_grub_from_the_vhd(self) -> None:
        self.assertFirmwareBoots(self.converted(self.grub_disk()),
                                 bootable.MARKER)

    def test_seabios_boots_extlinux_from_the_vhd(self) -> None:
        self.assertFirmwareBoots(self.converted(self.extlinux_disk()),
                                 bootable.EXTLINUX_REACHED)

    def test_pygrub_extracts_what_boots(self) -> None:
        if not os.path.exists(PYGRUB):
            self.fail(f'{PYGRUB} is missing (apt-get install xen-utils-4.17)')
        for make in (self.grub_disk, self.extlinux_disk):
            with self.subTest(loader=make.__name__):
                vhd = self.converted(make())
                # tapdisk hands pygrub the virtual disk: qemu-img's raw view.
                raw = vhd + '.tapdisk.raw'
                disks.run_tool(self, 'qemu-img', 'convert', '-f', 'vpc',
                               '-O', 'raw', vhd, raw)
                folder = self.path(make.__name__)
                os.mkdir(folder)
                result = base.run([PYGRUB, '-q', '--output-format=simple',
                                   f'--output-directory={folder}', raw])
                self.assertEqual(result.returncode, 0, result.stderr)
                told = dict(line.split(' ', 1) for line
                            in result.stdout.splitlines() if ' ' in line)
                with open(told['kernel'], 'rb') as handle:
                    self.assertEqual(handle.read(), self.kernel)
                with open(told['ramdisk'], 'rb') as handle:
                    self.assertEqual(handle.read(), initrd())
                self.assertEqual(told['args'].strip(), bootable.KERNEL_ARGS)
                console = serial_console(self, [
                    '-kernel', told['kernel'], '-initrd', told['ramdisk'],
                    '-append', told['args'].strip()])
                self.assertIn(KERNEL_STARTED, console, console[-3000:])
                self.assertIn(INITRD_LOADED, console, console[-3000:])
