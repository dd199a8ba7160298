"""Can XenServer start the disk?  The boot rule of ``check --for``.

XenServer 8 and XCP-ng 8.1 and later run HVM guests only (PV guests are
deprecated, then unsupported), and Rackspace imports with
``vm_mode=hvm``: an HVM guest starts through its firmware, so the disk
needs a BIOS boot loader (boot code in the MBR and what it loads) or an
EFI system partition with ``\\EFI\\BOOT\\BOOTX64.EFI``.  A PV guest starts
through pygrub, which needs a boot loader configuration naming a kernel
(and initrd) that exist.  No path at all is a problem for both targets;
a PV path only is a problem for Rackspace and a warning for XenServer.
"""

from __future__ import annotations

from diskimage_vhd.errors import VhdError
from diskimage_vhd.image.boot import BIOS
from diskimage_vhd.image.boot import BootSurvey
from diskimage_vhd.image.boot import PV
from diskimage_vhd.image.boot import survey
from diskimage_vhd.image.boot import UEFI
from diskimage_vhd.image.partitions import PartitionTableError
from diskimage_vhd.image.partitions import read_partition_table
from diskimage_vhd.image.reader import VhdImage
from diskimage_vhd.xen.readiness import Finding
from diskimage_vhd.xen.readiness import Level

INSTALL = ('install a boot loader into the image: with diskimage-builder, '
           'build a partitioned disk with the "vm" (or "block-device-mbr") '
           'and "bootloader" elements')


def boot_findings(image: VhdImage, target: str) -> list[Finding]:
    """The boot rule for ``target`` ('xenserver' or 'rackspace')."""
    if image.footer.is_differencing:
        return []  # its data is in its parent; has-parent says so
    if image.is_dynamic and image.allocated_blocks() == 0:
        return [Finding(Level.PROBLEM, 'empty-disk',
                        'the disk holds no data (every block is unallocated: '
                        'all zeros), so nothing can boot from it',
                        'convert the image that holds the system')]
    try:
        found = survey(image, read_partition_table(image))
    except PartitionTableError as error:
        return [Finding(Level.PROBLEM, 'no-boot-loader',
                        f'the partition table is damaged ({error}), so no '
                        'firmware or pygrub can find a boot loader', INSTALL)]
    except VhdError as error:
        return [Finding(Level.PROBLEM, 'no-boot-loader',
                        f'the disk cannot be read to find a boot loader '
                        f'({error.problem})', INSTALL)]
    return judge(found, target)


def judge(found: BootSurvey, target: str) -> list[Finding]:
    """The findings for what ``survey`` found."""
    modes = found.modes()
    missing = ('; '.join(found.missing) + '; ') if found.missing else ''
    if modes & {BIOS, UEFI}:
        return [_paths_note(found)]
    if found.unknown_boot_code:
        pv = [_paths_note(found)] if PV in modes else []
        return [Finding(
            Level.WARNING, 'boot-loader-unknown',
            f'{missing}the MBR holds boot code of no boot loader this check '
            'knows (GRUB 2, SYSLINUX), so whether the firmware can start it '
            'is not known', 'boot the image once (e.g. in qemu, with no '
            '-kernel) before uploading it')] + pv
    if PV in modes:
        level = Level.PROBLEM if target == 'rackspace' else Level.WARNING
        why = ('Rackspace imports run HVM (vm_mode=hvm)' if
               target == 'rackspace' else 'XenServer 8 and XCP-ng 8.1 and '
               'later do not run PV guests')
        return [Finding(
            level, 'pv-boot-only',
            f'{missing}only pygrub can start the disk ({_listed(found, PV)})'
            ': there is no boot code in the MBR and no EFI system partition, '
            f'and {why}', INSTALL)]
    looked = (', '.join(found.looked_at) if found.looked_at
              else 'no file system pygrub reads')
    return [Finding(
        Level.PROBLEM, 'no-boot-loader',
        f'{missing}no boot loader: no boot code in the MBR, no EFI system '
        f'partition holding \\EFI\\BOOT\\BOOTX64.EFI, no boot loader '
        f'configuration pygrub reads (looked in {looked}); XenServer cannot '
        'start the VM', INSTALL)]


def _listed(found: BootSurvey, mode: str) -> str:
    return '; '.join(p.description for p in found.paths if p.mode == mode)


def _paths_note(found: BootSurvey) -> Finding:
    paths = '; '.join(p.description for p in found.paths)
    return Finding(Level.NOTE, 'boot-path', f'boots through {paths}')


# Every code the boot rule gives, for callers that set it aside.
CODES = ('empty-disk', 'no-boot-loader', 'pv-boot-only',
         'boot-loader-unknown', 'boot-path')
