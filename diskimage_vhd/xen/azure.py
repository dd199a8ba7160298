"""What Azure minds in an uploaded VHD: its rules, read from the footer.

Azure takes the file byte for byte as a page blob and reads only its last
512 bytes: the footer must be valid, the disk fixed, its current size a
whole number of MiB and exactly the data before the footer, and the
upload within the managed disk limits.  Each rule's source is listed in
doc/source/readiness.rst.  Nothing here is XenServer's, but the findings
are of the same kind, so ``check --for azure`` reads as the others do.
"""

from __future__ import annotations

from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.shapes import MIB
from diskimage_vhd.xen.readiness import Finding
from diskimage_vhd.xen.readiness import Level

GIB = 1 << 30
TIB = 1 << 40
# az disk create --upload-size-bytes (DiskCreationData.UploadSizeBytes):
# the upload, footer included, is 20 MiB + 512 .. 32 TiB + 512 bytes.
UPLOAD_MIN = 20 * MIB + c.FOOTER_SIZE
UPLOAD_MAX = 32 * TIB + c.FOOTER_SIZE
# The largest OS disk Azure boots from (larger disks serve as data disks).
OS_DISK_MAX = 4 * TIB
RECONVERT = 'convert it with "diskimage-vhd convert --for azure"'


def findings(footer: Footer | None, file_size: int) -> list[Finding]:
    """Azure's rules for a file of ``file_size`` bytes ending in ``footer``
    (None: no footer there).
    """
    if footer is None:
        return [Finding(Level.PROBLEM, 'no-footer',
                        'no VHD footer in the last 512 bytes: Azure reads '
                        "the disk's size from it", RECONVERT)]
    found: list[Finding] = []

    def add(level: Level, code: str, message: str, fix: str = '') -> None:
        found.append(Finding(level, code, message, fix))

    if not footer.checksum_ok():
        add(Level.PROBLEM, 'footer-checksum',
            f'footer checksum {footer.checksum:#010x} does not match its '
            f'content ({footer.computed_checksum():#010x})', RECONVERT)
    if footer.disk_type != c.DISK_TYPE_FIXED:
        kind = c.DISK_TYPE_NAMES.get(footer.disk_type, 'unknown')
        add(Level.PROBLEM, 'not-fixed',
            f'{kind} disk: Azure takes only fixed VHDs', RECONVERT)
    size = footer.current_size
    if size % MIB:
        add(Level.PROBLEM, 'size-not-mib',
            f'virtual size {size} bytes is not a whole number of MiB, as '
            'Azure requires', RECONVERT + ' (it rounds the size up)')
    if footer.disk_type != c.DISK_TYPE_FIXED:
        return found  # its file is not the disk: no upload to judge
    if file_size != size + c.FOOTER_SIZE:
        add(Level.PROBLEM, 'file-size',
            f'file is {file_size} bytes, not the virtual size plus the '
            f'footer ({size + c.FOOTER_SIZE}): Azure takes the file as the '
            'disk, byte for byte', RECONVERT)
    if file_size < UPLOAD_MIN:
        add(Level.PROBLEM, 'upload-too-small',
            f'file is {file_size} bytes, below the {UPLOAD_MIN} (20 MiB and '
            'the footer) Azure accepts as an upload',
            'make the disk at least 20 MiB (--size 20M)')
    elif file_size > UPLOAD_MAX:
        add(Level.PROBLEM, 'upload-too-large',
            f'file is {file_size} bytes, beyond the {UPLOAD_MAX} (32 TiB and '
            'the footer) Azure accepts as an upload', 'make the disk smaller')
    if size > OS_DISK_MAX:
        add(Level.WARNING, 'over-os-disk-limit',
            f'virtual size {size} bytes is over the 4 TiB Azure allows an '
            'OS disk: it can serve only as a data disk',
            'make the image smaller to boot from it')
    add(Level.NOTE, 'upload-size',
        f'upload the file as a page blob of {file_size} bytes '
        f'(az disk create --upload-type Upload --upload-size-bytes '
        f'{file_size})')
    return found
