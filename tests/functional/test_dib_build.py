"""Build a real image with an unpatched diskimage-builder and boot the VHD.

``disk-image-create -t raw,vhd debian-minimal baremetal xenserver-vhd``
runs once for the class, with this package's ``vhd-util`` first on PATH, as
a user gets it after ``pip install .`` in a checkout.  The tests then check
what DIB wrote: a valid, sparse XenServer VHD with the raw image's exact
content, that boots under qemu (TCG) to a login prompt.  That image is
partitionless, with no boot loader (the documented ``vm`` recipe needs
device-mapper, which a sandbox often lacks): the readiness check refuses
it, and the tests assemble from its file system the disk ``vm`` would
give, one MBR partition with GRUB 2 (a loop device at the partition's
offset, no device-mapper), convert that, and boot the VHD through SeaBIOS
and through the kernel pygrub extracts.  A second build, with
``DIB_VHD_TARGET=azure``, gives through DIB's unchanged ``-t vhd`` steps a
fixed disk of whole MiB that ``check --for azure`` accepts.  A quick
class runs DIB with an unpatched vhd-util first on PATH and expects the
xenserver-vhd element to stop the build within seconds.

Needs root, loop devices and diskimage-builder, debootstrap and qemu
installed (``tools/dib-functional-setup.sh``), and network access to
deb.debian.org.  A build takes about three minutes, a TCG boot about one.
Run it alone with ``stestr run tests.functional``; leave it out with
``stestr run --exclude-regex '^tests\\.functional\\.'``.  Under stestr, set
``parallel_class=True`` in .stestr.conf, or each worker that gets one of
the build's tests runs its own build.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional
import unittest

from diskimage_vhd import dib
from tests import bootable
from tests.unit.elements.test_xenserver_vhd_hooks import INSTALL_HINT

BUILD_TIMEOUT = 45 * 60
BOOT_TIMEOUT = 10 * 60
BLOCK = 2 * 1024 * 1024
MIB = 1024 * 1024

# The venv that runs the tests holds diskimage-builder and this package.
VENV_BIN = os.path.dirname(sys.executable)
SEARCH_PATH = VENV_BIN + os.pathsep + os.environ.get('PATH', '/usr/bin:/bin')
ELEMENTS = ['debian-minimal', 'baremetal', 'xenserver-vhd']
# The documented recipe for a disk XenServer boots; it needs device-mapper.
BOOTABLE_ELEMENTS = ['debian-minimal', 'vm', 'xenserver-vhd']
LOGIN = re.compile(rb'^\S+ login: *$', re.M)
PYGRUB = '/usr/lib/xen-4.17/bin/pygrub'
# The grub.cfg the bootloader element would write, in short: the marker
# on the serial console, then DIB's kernel on its root file system.
GRUB_CFG = """serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
echo %(marker)s
set timeout=0
menuentry "debian" {
    linux /boot/vmlinuz-%(version)s root=UUID=%(uuid)s ro console=ttyS0
    initrd /boot/initrd.img-%(version)s
}
"""


def _which(command: str) -> Optional[str]:
    return shutil.which(command, path=SEARCH_PATH)


def _skip_reason() -> Optional[str]:
    """Why this machine cannot build an image, or None if it can."""
    if os.geteuid() != 0:
        return 'needs root: disk-image-create mounts loop devices and chroots'
    if not os.path.exists('/dev/loop-control'):
        return 'no loop devices (/dev/loop-control is missing)'
    probe = subprocess.run(['losetup', '--find'], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
    if probe.returncode != 0:
        return 'no free loop device: ' + probe.stdout.strip()
    if _which('disk-image-create') is None:
        return ('diskimage-builder is not installed (no disk-image-create); '
                'run tools/dib-functional-setup.sh')
    return None


def _data_blocks(path: Path) -> int:
    """Count the 2 MiB blocks of a sparse file that hold non-zero bytes."""
    count = 0
    with open(path, 'rb') as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        blocks = set()
        offset = 0
        while offset < size:
            try:
                data = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:  # ENXIO: no data after offset
                break
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            blocks.update(range(data // BLOCK, (hole - 1) // BLOCK + 1))
            offset = hole
        for block in sorted(blocks):
            f.seek(block * BLOCK)
            if f.read(BLOCK).strip(b'\0'):
                count += 1
    return count


def _build_env(extra_path: str = '') -> Dict[str, str]:
    """The environment of a build: this venv first on PATH, bookworm."""
    env = dict(os.environ)
    env.update({
        'PATH': extra_path + SEARCH_PATH,
        'ELEMENTS_PATH': dib.elements_path(),
        'DIB_RELEASE': 'bookworm',
        'DIB_DEBIAN_SECURITY_MIRROR': 'http://deb.debian.org/debian-security',
    })
    return env


class EarlyCheckTest(unittest.TestCase):
    """A vhd-util that cannot convert stops a -t vhd build within seconds."""

    def setUp(self) -> None:
        reason = _skip_reason()
        if reason:
            self.skipTest(reason)
        self.tmp = Path(tempfile.mkdtemp(prefix='diskimage-vhd-dib-early-'))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def test_stock_vhd_util_stops_build(self) -> None:
        # blktap's vhd-util without the convert patch, first on PATH.
        stock = self.tmp / 'bin' / 'vhd-util'
        stock.parent.mkdir()
        stock.write_text('#!/bin/bash\n'
                         'echo "invalid COMMAND $1"\n'
                         'echo "usage: vhd-util COMMAND [OPTIONS]"\n')
        stock.chmod(0o755)
        start = time.monotonic()
        res = subprocess.run(
            [_which('disk-image-create'), '-t', 'raw,vhd',
             '-o', str(self.tmp / 'image')] + ELEMENTS,
            env=_build_env(str(stock.parent) + os.pathsep),
            cwd=str(self.tmp), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            universal_newlines=True, timeout=600)
        seconds = time.monotonic() - start
        self.assertNotEqual(res.returncode, 0, res.stdout[-3000:])
        self.assertIn('has no "convert" command', res.stdout)
        self.assertIn(INSTALL_HINT, res.stdout)
        # Before debootstrap: nothing was downloaded or written.
        self.assertNotRegex(res.stdout, r'Running \S+/root\.d/08-debootstrap')
        self.assertFalse(list(self.tmp.glob('image*')))
        self.assertLess(seconds, 60)


class _DibBuild(unittest.TestCase):
    """One real DIB build for the class (``DIB_VHD_TARGET`` = ``TARGET``),
    and the helpers its tests use.
    """

    TARGET = 'none'
    tmp: Path
    out: Path
    image: Path
    log: Path
    build_seconds: float

    @classmethod
    def setUpClass(cls) -> None:
        reason = _skip_reason()
        if reason:
            raise unittest.SkipTest(reason)
        cls.tmp = Path(tempfile.mkdtemp(prefix='diskimage-vhd-dib-'))
        cls.out = cls.tmp / 'out'
        cls.out.mkdir()
        cls.image = cls.out / 'image'
        cls.log = cls.tmp / 'build.log'
        env = _build_env()
        env['DIB_VHD_TARGET'] = cls.TARGET
        if cls.TARGET != DibBuildTest.TARGET:
            # The builds run at once (parallel_class): each keeps its own
            # cache, or both chroots lock the one bind-mounted apt cache.
            env['DIB_IMAGE_CACHE'] = str(cls.tmp / 'cache')
        cmd = [_which('disk-image-create'), '-t', 'raw,vhd',
               '-o', str(cls.image)] + ELEMENTS
        start = time.monotonic()
        try:
            with open(cls.log, 'w') as log:
                log.write('$ %s\n' % ' '.join(cmd))
                log.flush()
                proc = subprocess.run(
                    cmd, env=env, cwd=str(cls.out), stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT,
                    timeout=BUILD_TIMEOUT)
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise
        cls.build_seconds = time.monotonic() - start
        if proc.returncode != 0:
            tail = cls.log.read_text(errors='replace').splitlines()[-60:]
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise AssertionError('disk-image-create failed (exit %d); last '
                                 'lines of its output:\n%s'
                                 % (proc.returncode, '\n'.join(tail)))

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def artefact(self, suffix: str) -> Path:
        path = Path(str(self.image) + suffix)
        self.assertTrue(path.is_file(), '%s was not written' % path.name)
        return path

    def run_tool(self, *cmd: str, stdin: Optional[str] = None
                 ) -> subprocess.CompletedProcess:
        tool = _which(cmd[0]) or shutil.which(cmd[0], path='/usr/sbin:/sbin')
        self.assertIsNotNone(tool, '%s is not installed' % cmd[0])
        return subprocess.run([tool] + list(cmd[1:]), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, input=stdin,
                              universal_newlines=True, timeout=600)


class DibBuildTest(_DibBuild):
    """The XenServer build.  Its partitionless image has no boot loader,
    so the check at the end of the build would refuse it: the build runs
    with ``DIB_VHD_TARGET=none`` and the tests check it afterwards.
    """

    TARGET = 'none'

    def test_outputs_and_no_leftovers(self) -> None:
        """DIB wrote raw, vhd, kernel and initrd, and removed its .bak."""
        names = sorted(p.name for p in self.out.iterdir() if p.is_file())
        self.assertEqual(names, ['image.initrd', 'image.raw',
                                 'image.vhd', 'image.vmlinuz'])

    def test_element_hooks_ran(self) -> None:
        """The early check found this package's vhd-util; the PV check ran."""
        log = self.log.read_text(errors='replace')
        self.assertIn("is diskimage-vhd's vhd-util", log)
        for driver in ('xen-blkfront', 'xen-netfront'):
            self.assertRegex(log, r'xenserver-vhd: kernel \S+: %s is '
                                  r'(built in|a module, present in)' % driver)

    def test_vhd_is_valid(self) -> None:
        vhd = self.artefact('.vhd')
        res = self.run_tool('diskimage-vhd', 'check', str(vhd))
        self.assertEqual(res.returncode, 0, res.stdout)
        # And as XenServer's checker words it, through the drop-in.
        res = self.run_tool('vhd-util', 'check', '-n', str(vhd))
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn('%s is valid' % vhd, res.stdout)

    def test_readiness_refuses_the_partitionless_image(self) -> None:
        """No boot loader: the element warned, the check refuses the VHD.

        nova cannot grow it either, so a warning says why and
        auto_disk_config is False.
        """
        log = self.log.read_text(errors='replace')
        self.assertRegex(log, r'WARNING: xenserver-vhd: the image has no '
                              r'boot loader .*Add the "vm" element')
        vhd = self.artefact('.vhd')
        res = self.run_tool('diskimage-vhd', 'check', '--for', 'rackspace',
                            '--json', str(vhd))
        self.assertEqual(res.returncode, 22, res.stdout)
        report = json.loads(res.stdout)
        self.assertIs(report['ready'], False)
        self.assertEqual([p['code'] for p in report['problems']],
                         ['no-boot-loader'])
        self.assertIn('ext4 on the disk', report['problems'][0]['message'])
        self.assertEqual([w['code'] for w in report['warnings']],
                         ['partitions-not-resizable'])
        gib = 1024 ** 3
        self.assertEqual(report['image_properties'], {
            'disk_format': 'vhd', 'container_format': 'ovf',
            'auto_disk_config': 'False', 'vm_mode': 'hvm',
            'img_config_drive': 'mandatory',
            'min_disk': -(-self.artefact('.raw').stat().st_size // gib)})

    def bootable_vhd(self) -> Path:
        """The disk ``vm`` gives, from DIB's file system: partition 1 at
        1 MiB holding it, GRUB 2 in the MBR and the gap after it, and a
        grub.cfg naming DIB's kernel; converted and judged ready.
        """
        cached = self.tmp / 'bootable.vhd'
        if cached.exists():
            return cached
        fs = self.artefact('.raw')
        disk = self.tmp / 'bootable.raw'
        size = fs.stat().st_size
        with open(disk, 'wb') as handle:
            handle.truncate(MIB + size)
        res = self.run_tool('sfdisk', '-q', '--no-reread', '--no-tell-kernel',
                            str(disk), stdin='label: dos\nstart=2048, '
                            'type=83, bootable\n')
        self.assertEqual(res.returncode, 0, res.stdout)
        res = self.run_tool('dd', 'if=%s' % fs, 'of=%s' % disk, 'bs=1M',
                            'seek=1', 'conv=notrunc,sparse', 'status=none')
        self.assertEqual(res.returncode, 0, res.stdout)
        uuid = self.run_tool('blkid', '-p', '-o', 'value', '-s', 'UUID',
                             str(fs)).stdout.strip()
        self.assertTrue(uuid, 'no file system UUID in the DIB image')
        device = self.run_tool('losetup', '--find', '--show', '--offset',
                               str(MIB), str(disk)).stdout.strip()
        mountpoint = self.tmp / 'mnt'
        mountpoint.mkdir()
        try:
            res = self.run_tool('mount', device, str(mountpoint))
            self.assertEqual(res.returncode, 0, res.stdout)
            try:
                kernels = sorted((mountpoint / 'boot').glob('vmlinuz-*'))
                self.assertTrue(kernels, 'no kernel in the image\'s /boot')
                version = kernels[-1].name[len('vmlinuz-'):]
                grub = mountpoint / 'boot' / 'grub'
                grub.mkdir(parents=True, exist_ok=True)
                (grub / 'grub.cfg').write_text(GRUB_CFG % {
                    'marker': bootable.MARKER, 'version': version,
                    'uuid': uuid})
            finally:
                self.run_tool('umount', str(mountpoint))
        finally:
            self.run_tool('losetup', '-d', device)
        bootable.grub_bios(self, str(disk))
        vhd = self.tmp / 'bootable.vhd'
        res = self.run_tool('diskimage-vhd', 'convert', '--for', 'rackspace',
                            str(disk), str(vhd))
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertRegex(res.stdout, r'note: boots through BIOS: GRUB 2 in '
                                     r'the MBR.*; PV: pygrub reads '
                                     r'/boot/grub/grub.cfg on partition 1')
        disk.unlink()
        return vhd

    def test_assembled_disk_boots_through_seabios(self) -> None:
        """SeaBIOS starts GRUB from the VHD, which boots DIB's system."""
        vhd = self.bootable_vhd()
        console = self.boot_to_login([
            '-drive', 'file=%s,format=vpc,if=virtio,snapshot=on' % vhd])
        self.assertIn(bootable.MARKER, console)

    def test_assembled_disk_boots_through_pygrub(self) -> None:
        """pygrub extracts kernel, initrd and arguments; they boot it."""
        vhd = self.bootable_vhd()
        raw = self.tmp / 'tapdisk.raw'  # the disk as tapdisk shows it
        res = self.run_tool('qemu-img', 'convert', '-f', 'vpc', '-O', 'raw',
                            str(vhd), str(raw))
        self.assertEqual(res.returncode, 0, res.stdout)
        folder = self.tmp / 'pygrub'
        folder.mkdir(exist_ok=True)
        res = subprocess.run(
            [PYGRUB, '-q', '--output-format=simple',
             '--output-directory=%s' % folder, str(raw)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True, timeout=600)
        self.assertEqual(res.returncode, 0, res.stderr)
        raw.unlink()
        told = dict(line.split(' ', 1) for line in res.stdout.splitlines()
                    if ' ' in line)
        self.boot_to_login([
            '-kernel', told['kernel'], '-initrd', told['ramdisk'],
            '-append', told['args'].strip(),
            '-drive', 'file=%s,format=vpc,if=virtio,snapshot=on' % vhd])

    def test_vhd_content_equals_raw(self) -> None:
        raw, vhd = self.artefact('.raw'), self.artefact('.vhd')
        res = self.run_tool('qemu-img', 'compare', '-f', 'raw', '-F', 'vpc',
                            str(raw), str(vhd))
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn('Images are identical', res.stdout)

    def test_vhd_is_sparse(self) -> None:
        """The VHD holds the raw's data blocks, not its virtual size."""
        raw, vhd = self.artefact('.raw'), self.artefact('.vhd')
        virtual = raw.stat().st_size
        raw_data = raw.stat().st_blocks * 512
        vhd_size = vhd.stat().st_size
        blocks = _data_blocks(raw)
        # Each written block: 512-byte bitmap, up to 7 sectors of gap, 2 MiB.
        # Metadata (footers, header, BAT, batmap) is well under 1 MiB here.
        self.assertGreaterEqual(vhd_size, blocks * BLOCK)
        self.assertLessEqual(vhd_size, blocks * (BLOCK + 4096) + MIB)
        # So it is close to the raw's allocated data (2 MiB granularity)...
        self.assertLess(vhd_size, raw_data * 1.1 + 4 * MIB,
                        'VHD %d MiB for %d MiB of raw data'
                        % (vhd_size // MIB, raw_data // MIB))
        # ...and nowhere near the virtual size.
        self.assertLess(vhd_size, virtual * 0.75)

    def test_vhd_boots_to_login(self) -> None:
        """The kernel and initrd DIB extracted boot the VHD on virtio."""
        vhd = self.artefact('.vhd')
        console = self.boot_to_login([
            '-kernel', str(self.artefact('.vmlinuz')),
            '-initrd', str(self.artefact('.initrd')),
            '-append', 'root=/dev/vda ro console=ttyS0',
            # snapshot=on: guest writes go to a temporary overlay, so the
            # image under test is not changed by booting it.
            '-drive', 'file=%s,format=vpc,if=virtio,snapshot=on' % vhd])
        self.assertRegex(console, r'virtio_blk \S+: \[vda\]')

    def boot_to_login(self, args: List[str]) -> str:
        """qemu (TCG) with ``args`` until a login prompt; the console."""
        serial = self.tmp / 'serial.log'
        serial.write_bytes(b'')
        qemu = _which('qemu-system-x86_64')
        self.assertIsNotNone(qemu, 'qemu-system-x86_64 is not installed')
        cmd: List[str] = [
            qemu, '-accel', 'tcg', '-m', '1024', '-nographic', '-no-reboot',
            *args,
            '-nic', 'none', '-monitor', 'none', '-serial', 'file:%s' % serial,
        ]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        booted = False
        try:
            while time.monotonic() - start < BOOT_TIMEOUT:
                if LOGIN.search(serial.read_bytes()):
                    booted = True
                    break
                if proc.poll() is not None:
                    break
                time.sleep(1)
        finally:
            proc.terminate()
            try:
                out = proc.communicate(timeout=30)[0]
            except subprocess.TimeoutExpired:
                proc.kill()
                out = proc.communicate()[0]
        seconds = time.monotonic() - start
        console = serial.read_bytes().decode(errors='replace')
        tail = '\n'.join(console.splitlines()[-40:])
        self.assertTrue(booted, 'no login prompt on the serial console after '
                        '%.0f s (qemu: %s); console ends:\n%s'
                        % (seconds, out.decode(errors='replace').strip(), tail))
        sys.stderr.write('build %.0f s, TCG boot to login %.0f s\n'
                         % (self.build_seconds, seconds))
        return console


if __name__ == '__main__':
    unittest.main()


class DibAzureBuildTest(_DibBuild):
    """``DIB_VHD_TARGET=azure disk-image-create -t raw,vhd``: DIB's own
    ``-t vhd`` steps, unchanged, give the Azure flavour through the drop-in.
    """

    TARGET = 'azure'

    def test_build_log_names_the_azure_disk(self) -> None:
        log = self.log.read_text(errors='replace')
        self.assertIn('FIXED -> FIXED for azure', log)
        self.assertIn('is ready for azure', log)

    def test_vhd_is_a_fixed_disk_of_whole_mib_with_the_raw_data(self) -> None:
        raw, vhd = self.artefact('.raw'), self.artefact('.vhd')
        size = raw.stat().st_size
        self.assertEqual(vhd.stat().st_size, -(-size // MIB) * MIB + 512)
        res = self.run_tool('diskimage-vhd', 'check', '--for', 'azure',
                            str(vhd))
        self.assertEqual(res.returncode, 0, res.stdout)
        info = json.loads(self.run_tool('qemu-img', 'info', '--output=json',
                                        '-f', 'vpc', str(vhd)).stdout)
        self.assertEqual(info['virtual-size'] % MIB, 0)
        res = self.run_tool('qemu-img', 'compare', '-f', 'raw', '-F', 'vpc',
                            str(raw), str(vhd))
        self.assertEqual(res.returncode, 0, res.stdout)
