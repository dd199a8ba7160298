"""Disks that boot (or do not), made by the boot loaders' own tools.

GRUB 2 is put in place the way grub-install does for BIOS, without a
device: ``grub-mkimage`` builds the core image, which goes in the gap after
the MBR (or into a BIOS boot partition on GPT), and GRUB's ``boot.img``
becomes the MBR's boot code (its first 440 bytes, keeping the table).
File systems are filled without mounting (``mke2fs -d``, mtools).
extlinux installs only into a mounted file system: that needs a loop
device at the partition's offset, so root.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import unittest
from typing import Dict, Optional

from tests import base
from tests import disks

SECTOR = 512
MiB = disks.MiB
GRUB_DIR = '/usr/lib/grub/i386-pc'
SYSLINUX_MBR = '/usr/lib/EXTLINUX/mbr.bin'
GRUB_MODULES = ('biosdisk', 'part_msdos', 'part_gpt', 'ext2', 'normal',
                'linux', 'serial', 'echo', 'test')
# The marker GRUB prints on the serial console, and the
# configurations that do so before starting /boot/vmlinuz.
MARKER = 'DISKIMAGE-VHD-BOOT-LOADER-REACHED'
KERNEL_ARGS = 'console=ttyS0 panic=-1'
GRUB_CFG = f"""serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
echo {MARKER}
set timeout=0
menuentry "image" {{
    linux /boot/vmlinuz {KERNEL_ARGS}
    initrd /boot/initrd.img
}}
"""
# SYSLINUX shows what it loads: "Loading /boot/vmlinuz... ok".
EXTLINUX_REACHED = 'Loading /boot/vmlinuz... ok'
EXTLINUX_CONF = f"""SERIAL 0 115200
DEFAULT image
TIMEOUT 1
LABEL image
    KERNEL /boot/vmlinuz
    APPEND initrd=/boot/initrd.img {KERNEL_ARGS}
"""
disks.PACKAGES.update({'grub-mkimage': 'grub-pc-bin', 'mcopy': 'mtools',
                       'mmd': 'mtools', 'extlinux': 'extlinux',
                       'losetup': 'mount', 'mount': 'mount',
                       'umount': 'mount'})


def write(path: str, data: bytes, offset: int) -> None:
    with open(path, 'r+b') as handle:
        handle.seek(offset)
        handle.write(data)


def ext4_with(test: unittest.TestCase, disk: str, start: int, size: int,
              files: Dict[str, bytes]) -> None:
    """An ext4 file system at ``start`` holding ``files`` (path: bytes)."""
    root = tempfile.mkdtemp(dir=os.path.dirname(disk))
    test.addCleanup(shutil.rmtree, root, True)
    for name, data in files.items():
        path = os.path.join(root, name.lstrip('/'))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as handle:
            handle.write(data)
    image = disk + '.fs'
    base.make_raw(image, size)
    disks.run_tool(test, 'mke2fs', '-q', '-F', '-t', 'ext4', '-d', root, image)
    disks.run_tool(test, 'dd', f'if={image}', f'of={disk}', 'bs=512',
                   f'seek={start // SECTOR}', 'conv=notrunc,sparse',
                   'status=none')
    os.unlink(image)


def esp_with(test: unittest.TestCase, disk: str, start: int, size: int,
             files: Dict[str, bytes]) -> None:
    """A FAT file system at ``start`` holding ``files``, put by mtools."""
    image = disk + '.esp'
    base.make_raw(image, size)
    disks.run_tool(test, 'mkfs.vfat', image)
    for name, data in files.items():
        folder = ''
        for part in name.strip('/').split('/')[:-1]:
            folder += '/' + part
            base.run([disks.tool(test, 'mmd'), '-i', image, '::' + folder])
        source = image + '.file'
        with open(source, 'wb') as handle:
            handle.write(data)
        disks.run_tool(test, 'mcopy', '-i', image, source, '::' + name)
        os.unlink(source)
    disks.run_tool(test, 'dd', f'if={image}', f'of={disk}', 'bs=512',
                   f'seek={start // SECTOR}', 'conv=notrunc,sparse',
                   'status=none')
    os.unlink(image)


def grub_bios(test: unittest.TestCase, disk: str, core_sector: int = 1,
              prefix: str = '(hd0,msdos1)/boot/grub') -> None:
    """GRUB 2 for BIOS: ``boot.img`` in the MBR, the core image at
    ``core_sector`` (the gap after the MBR, or a BIOS boot partition).
    """
    core = disk + '.core'
    disks.run_tool(test, 'grub-mkimage', '-O', 'i386-pc', '-o', core,
                   '-p', prefix, *GRUB_MODULES)
    with open(core, 'rb') as handle:
        core_image = handle.read()
    os.unlink(core)
    with open(os.path.join(GRUB_DIR, 'boot.img'), 'rb') as handle:
        boot = bytearray(handle.read()[:440])
    boot[0x5C:0x64] = core_sector.to_bytes(8, 'little')
    write(disk, bytes(boot), 0)
    write(disk, core_image, core_sector * SECTOR)
    if core_sector != 1:  # diskboot.img's blocklist names sector 2 by default
        sector = bytearray(core_image[:SECTOR])
        sector[SECTOR - 12:SECTOR - 4] = (core_sector + 1).to_bytes(
            8, 'little')
        write(disk, bytes(sector), core_sector * SECTOR)


def boot_files(kernel: Optional[bytes] = None) -> Dict[str, bytes]:
    """What /boot holds for both configurations: a kernel and an initrd."""
    return {'/boot/vmlinuz': kernel or b'not a kernel\n',
            '/boot/initrd.img': b'an initrd\n'}


def host_kernel(test: unittest.TestCase) -> bytes:
    """A Linux kernel to boot (Debian's linux-image-cloud-amd64)."""
    found = sorted(glob.glob('/boot/vmlinuz-*'))
    if not found:
        test.fail('no kernel in /boot (apt-get install '
                  'linux-image-cloud-amd64)')
    with open(found[-1], 'rb') as handle:
        return handle.read()


def extlinux_bios(test: unittest.TestCase, disk: str, start: int, size: int,
                  files: Dict[str, bytes]) -> None:
    """SYSLINUX's mbr.bin in the MBR, and an ext4 file system at ``start``
    holding ``files`` with extlinux installed in /boot/extlinux (through a
    loop device; needs root).  SYSLINUX 6.04 reads neither ext4's 64bit
    nor its metadata_csum feature, and fails on the extent layout of
    ``mke2fs -d``: the files are written through the mount.
    """
    if os.geteuid() != 0:
        test.fail('installing extlinux needs root (a loop device and a mount)')
    image = disk + '.fs'
    base.make_raw(image, size)
    disks.run_tool(test, 'mke2fs', '-q', '-F', '-t', 'ext4', '-O',
                   '^64bit,^metadata_csum', image)
    disks.run_tool(test, 'dd', f'if={image}', f'of={disk}', 'bs=512',
                   f'seek={start // SECTOR}', 'conv=notrunc,sparse',
                   'status=none')
    os.unlink(image)
    device = disks.run_tool(test, 'losetup', '--find', '--show',
                            '--offset', str(start), '--sizelimit', str(size),
                            disk).strip()
    test.addCleanup(base.run, [disks.tool(test, 'losetup'), '-d', device])
    mountpoint = tempfile.mkdtemp(dir=os.path.dirname(disk))
    disks.run_tool(test, 'mount', device, mountpoint)
    try:
        os.makedirs(os.path.join(mountpoint, 'boot', 'extlinux'),
                    exist_ok=True)
        for name, data in files.items():
            path = os.path.join(mountpoint, name.lstrip('/'))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'wb') as handle:
                handle.write(data)
        disks.run_tool(test, 'extlinux', '--install',
                       os.path.join(mountpoint, 'boot', 'extlinux'))
    finally:
        disks.run_tool(test, 'umount', mountpoint)
        os.rmdir(mountpoint)
    with open(SYSLINUX_MBR, 'rb') as handle:
        write(disk, handle.read()[:440], 0)
