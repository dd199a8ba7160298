"""How a virtual disk boots, read from inside it: BIOS, UEFI or PV.

XenServer starts an HVM guest through its firmware (SeaBIOS, or OVMF for
UEFI), which runs the boot code of the MBR or the EFI loader of an EFI
system partition; a PV guest is started by pygrub, which reads a boot
loader's configuration from a file system and the kernel it names.  This
module finds each of those paths and, for one begun but not finished (GRUB's
boot code with no core image behind it), says what is missing.  The
signatures are the boot loaders' own strings, as they ship them: GRUB 2's
``boot.img`` and ``diskboot.img``, SYSLINUX's ``mbr.bin``/``gptmbr.bin``
and its volume boot record.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re

from diskimage_vhd.image.boot_files import FileSystemError
from diskimage_vhd.image.boot_files import open_volume
from diskimage_vhd.image.boot_files import Volume
from diskimage_vhd.image.filesystems import Disk
from diskimage_vhd.image.filesystems import read_at
from diskimage_vhd.image.partitions import Partition
from diskimage_vhd.image.partitions import PartitionTable

SECTOR = 512
BOOT_CODE = 440  # the MBR's code area, before the disk signature and table
BIOS = 'bios'
UEFI = 'uefi'
PV = 'pv'

# GRUB 2 boot.img: its messages, and where grub-setup writes the sector
# of the core image's first sector (diskboot.img).
GRUB_BOOT_MARK = b'GRUB \x00Geom\x00Hard Disk\x00Read\x00 Error'
GRUB_KERNEL_SECTOR = 0x5C
GRUB_DISKBOOT_MARKS = (b'loading\x00', b'Geom\x00Read\x00 Error')
# SYSLINUX's MBRs (mbr.bin, altmbr.bin; gptmbr.bin) and its VBR.
SYSLINUX_MBR_MARKS = (b'Missing operating system.', b'Missing OS')
SYSLINUX_VBR_OEM = b'SYSLINUX'
SYSLINUX_VBR_MARK = b'Boot error'
MBR_ACTIVE = 0x80

ESP_TYPES = ('0xef', 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B')
BIOS_BOOT_TYPE = '21686148-6449-6E6F-744E-656564454649'
EFI_LOADER = '/EFI/BOOT/BOOTX64.EFI'
# The configurations pygrub reads, in its order (xen's tools/pygrub).
PV_CONFIGS = ('/boot/grub/grub.cfg', '/grub/grub.cfg', '/boot/grub2/grub.cfg',
              '/grub2/grub.cfg', '/boot/isolinux/isolinux.cfg',
              '/boot/extlinux/extlinux.conf', '/boot/extlinux.conf',
              '/extlinux/extlinux.conf', '/extlinux.conf',
              '/boot/grub/menu.lst', '/boot/grub/grub.conf', '/grub/menu.lst',
              '/grub/grub.conf')
# File systems looked into: bounds the work on a table of many partitions.
MAX_VOLUMES = 16

_KERNEL = re.compile(rb'^\s*(?:linux|linux16|linuxefi|kernel)\s+(\S+)',
                     re.IGNORECASE | re.MULTILINE)
_INITRD = re.compile(rb'^\s*(?:initrd|initrd16|initrdefi)\s+(\S+)',
                     re.IGNORECASE | re.MULTILINE)
_APPEND_INITRD = re.compile(rb'\binitrd=([^\s,]+)', re.IGNORECASE)
_GRUB_DEVICE = re.compile(r'^\([^)]*\)')


@dataclasses.dataclass(frozen=True)
class BootPath:
    """One way the disk starts: ``mode`` is 'bios', 'uefi' or 'pv'."""

    mode: str
    description: str


@dataclasses.dataclass
class BootSurvey:
    """Every boot path found, and what is missing from those begun."""

    paths: list[BootPath] = dataclasses.field(default_factory=list)
    missing: list[str] = dataclasses.field(default_factory=list)
    unknown_boot_code: bool = False
    looked_at: list[str] = dataclasses.field(default_factory=list)

    def modes(self) -> set[str]:
        return {path.mode for path in self.paths}


def survey(disk: Disk, table: PartitionTable) -> BootSurvey:
    """Find the BIOS, UEFI and PV boot paths of ``disk``."""
    found = BootSurvey()
    mbr = read_at(disk, 0, SECTOR)
    parts = [p for p in table.partitions if not p.extended]
    _bios(disk, mbr, table, parts, found)
    volumes = _volumes(disk, table, parts, found)
    for where, kind, volume in volumes:
        if kind == 'vfat' and where.startswith('partition'):
            _uefi(where, volume, found)
    for where, kind, volume in volumes:
        _pv(where, volume, found)
    return found


def _bios(disk: Disk, mbr: bytes, table: PartitionTable,
          parts: list[Partition], found: BootSurvey) -> None:
    code = mbr[:BOOT_CODE]
    if not any(code):
        return
    if table.scheme is None and table.whole_disk:
        return  # a file system's own boot sector, not an MBR
    if GRUB_BOOT_MARK in code:
        _grub(disk, code, parts, found)
    elif any(mark in code for mark in SYSLINUX_MBR_MARKS):
        _syslinux(disk, mbr, table, parts, found)
    else:
        found.unknown_boot_code = True


def _grub(disk: Disk, code: bytes, parts: list[Partition],
          found: BootSurvey) -> None:
    sector = int.from_bytes(code[GRUB_KERNEL_SECTOR:GRUB_KERNEL_SECTOR + 8],
                            'little')
    if sector * SECTOR >= disk.size:
        found.missing.append(f'GRUB 2 boot code in the MBR points at sector '
                             f'{sector}, beyond the disk')
        return
    core = read_at(disk, sector * SECTOR, SECTOR)
    if not all(mark in core for mark in GRUB_DISKBOOT_MARKS):
        found.missing.append(f'GRUB 2 boot code in the MBR, but no GRUB core '
                             f'image at sector {sector} where it points')
        return
    holder = next((p for p in parts if p.start <= sector * SECTOR
                   < p.start + p.size), None)
    if holder is None:
        where = f'in the gap after the MBR (sector {sector})'
    elif holder.type == BIOS_BOOT_TYPE:
        where = f'in the BIOS boot partition {holder.number}'
    else:
        where = f'in partition {holder.number} (sector {sector})'
    found.paths.append(BootPath(BIOS, f'BIOS: GRUB 2 in the MBR, its core '
                                      f'image {where}'))


def _syslinux(disk: Disk, mbr: bytes, table: PartitionTable,
              parts: list[Partition], found: BootSurvey) -> None:
    if table.scheme == 'mbr':
        active = {number for number in range(1, 5)
                  if mbr[446 + 16 * (number - 1)] == MBR_ACTIVE}
        candidates = [p for p in parts if p.number in active]
        if not candidates:
            found.missing.append('SYSLINUX boot code in the MBR, but no '
                                 'active partition for it to start')
            return
    else:
        candidates = parts
    for part in candidates:
        vbr = read_at(disk, part.start, SECTOR)
        if vbr[3:11] == SYSLINUX_VBR_OEM and SYSLINUX_VBR_MARK in vbr:
            found.paths.append(BootPath(
                BIOS, f'BIOS: SYSLINUX boot code in the MBR, extlinux in '
                      f'partition {part.number}'))
            return
    numbers = ', '.join(str(p.number) for p in candidates) or 'none'
    found.missing.append(f'SYSLINUX boot code in the MBR, but no extlinux '
                         f'boot record in the partition it starts ({numbers})')


def _volumes(disk: Disk, table: PartitionTable, parts: list[Partition],
             found: BootSurvey) -> list[tuple[str, str, Volume]]:
    """The readable file systems: the whole disk's, or the partitions'."""
    if table.scheme is None:
        places = [('the disk', table.whole_disk, 0, disk.size)]
    else:
        places = [(f'partition {p.number}', p.filesystem, p.start, p.size)
                  for p in parts[:MAX_VOLUMES]]
    volumes = []
    for where, kind, start, size in places:
        if kind is None:
            continue
        try:
            volume = open_volume(disk, start, size, kind)
        except FileSystemError as error:
            found.missing.append(f'{where}: {error}')
            continue
        if volume is not None:
            found.looked_at.append(f'{kind} on {where}')
            volumes.append((where, kind, volume))
    return volumes


def _uefi(where: str, volume: Volume, found: BootSurvey) -> None:
    try:
        present = volume.exists(EFI_LOADER)
    except FileSystemError as error:
        found.missing.append(f'{where}: {error}')
        return
    if present:
        found.paths.append(BootPath(UEFI, f'UEFI: {EFI_LOADER} on the FAT '
                                          f'file system of {where}'))


def _pv(where: str, volume: Volume, found: BootSurvey) -> None:
    """pygrub's way: the first configuration found, its first kernel."""
    try:
        for config in PV_CONFIGS:
            text = volume.read(config)
            if text is None:
                continue
            kernel, initrd = boot_entry(text, posixpath.dirname(config))
            if kernel is None:
                found.missing.append(f'{config} on {where} names no kernel')
                return
            absent = [name for name in (kernel, initrd)
                      if name is not None and not volume.exists(name)]
            if absent:
                found.missing.append(
                    f'{config} on {where} names {" and ".join(absent)}, '
                    'which is not there')
                return
            named = kernel + (f' and {initrd}' if initrd else '')
            found.paths.append(BootPath(PV, f'PV: pygrub reads {config} on '
                                            f'{where}, naming {named}'))
            return
    except FileSystemError as error:
        found.missing.append(f'{where}: {error}')


def boot_entry(config: bytes, directory: str = '/'
               ) -> tuple[str | None, str | None]:
    """The first kernel and initrd a boot loader configuration names.

    GRUB 2 (``linux``/``initrd``), GRUB legacy (``kernel``/``initrd``) and
    extlinux (``kernel``/``linux`` and ``initrd`` or ``append initrd=``)
    share these keywords; the device prefix GRUB may write, ``(hd0,1)``,
    is dropped, and a relative name (extlinux's) is taken from the
    configuration's ``directory``.
    """
    kernel = _KERNEL.search(config)
    if kernel is None:
        return None, None
    rest = config[kernel.end():]
    initrd = _INITRD.search(rest) or _APPEND_INITRD.search(rest)
    return (_path(kernel.group(1), directory),
            _path(initrd.group(1), directory) if initrd else None)


def _path(raw: bytes, directory: str) -> str:
    name = _GRUB_DEVICE.sub('', raw.decode('utf-8', 'replace'))
    return posixpath.normpath(posixpath.join(directory, name))
