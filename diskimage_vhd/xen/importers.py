"""The published rules of the other importers of XenServer's world.

- xapi's ``vhd-tool`` (``import_raw_vdi?format=vhd``: ``xe vdi-import``,
  XCP-ng) reads an uploaded VHD strictly front to back, as a stream:
  the footer copy, the header, the BAT, then the blocks in ascending file
  order, then the trailing footer.  It can only skip forward, takes no
  chunked upload, and writes into a VDI that must already exist with the
  disk's virtual size.
- Xen Orchestra's import (``vhd-lib``: ``checkFooter``, and
  ``readHeaderAndFooter`` / ``parseVhdStream``, which compare the two
  footers) wants the header at offset 512, an original size no larger
  than the current size, a dynamic or differencing disk, and the footer
  copy at the start equal, byte for byte, to the trailing footer.
- Rackspace's own import how-to: a single VHD, a system disk of at most
  160 GB, and the image properties ``vm_mode=hvm`` and
  ``img_config_drive=mandatory``.

Each finding's code is listed, with its source, in doc/source/readiness.rst.
"""

from __future__ import annotations

from diskimage_vhd.format import constants as c
from diskimage_vhd.image.reader import VhdImage
from diskimage_vhd.posix.io import pread_full
from diskimage_vhd.xen.readiness import Finding
from diskimage_vhd.xen.readiness import Level

# Xen Orchestra's checkFooter: the header right after the footer copy.
HEADER_AT = c.FOOTER_SIZE
# Rackspace's import rules: a system disk of at most 160 GB (flavour
# disks are counted in GiB, as nova counts them).
RACKSPACE_SYSTEM_DISK = 160 * 1024 ** 3
# Rackspace's import rules: the properties an imported image must carry.
RACKSPACE_PROPERTIES = {'vm_mode': 'hvm', 'img_config_drive': 'mandatory'}


def stream_findings(image: VhdImage) -> list[Finding]:
    """vhd-tool's and Xen Orchestra's reading of a dynamic disk's layout."""
    if image.header is None:
        return []
    found = []
    offset = image.footer.data_offset
    if offset != HEADER_AT:
        found.append(Finding(
            Level.PROBLEM, 'header-not-at-512',
            f'the header is at offset {offset}, not {HEADER_AT}: Xen '
            "Orchestra's import refuses it (vhd-lib checkFooter: data "
            'offset 512)', 'convert it again with "diskimage-vhd convert"'))
    if image.header.table_offset < offset + c.HEADER_SIZE:
        found.append(Finding(
            Level.PROBLEM, 'stream-order',
            f'the BAT (offset {image.header.table_offset}) comes before the '
            f'end of the header (offset {offset + c.HEADER_SIZE}): xapi\'s '
            'vhd-tool and Xen Orchestra read an upload front to back and '
            'cannot go back for it',
            'convert it again with "diskimage-vhd convert"'))
    if image.footer.original_size > image.footer.current_size:
        found.append(Finding(
            Level.PROBLEM, 'original-over-current',
            f'original size {image.footer.original_size} is larger than the '
            f'current size {image.footer.current_size}: Xen Orchestra\'s '
            'import refuses it (vhd-lib checkFooter)',
            'convert it again with "diskimage-vhd convert"'))
    if not _footers_equal(image):
        found.append(Finding(
            Level.PROBLEM, 'footer-copy-differs',
            'the footer copy at the start of the file differs from the '
            "footer at its end: Xen Orchestra's import refuses it "
            '("footer1 !== footer2")',
            'convert it again with "diskimage-vhd convert"'))
    return found


def _footers_equal(image: VhdImage) -> bool:
    copy = pread_full(image.fd, c.FOOTER_SIZE, 0)
    end = pread_full(image.fd, c.FOOTER_SIZE, image.file_size - c.FOOTER_SIZE)
    return copy == end


def vdi_import_note(virtual_size: int) -> Finding:
    """What ``xe vdi-import`` needs before the upload."""
    return Finding(
        Level.NOTE, 'vdi-import',
        'xe vdi-import (xapi\'s vhd-tool) writes into an existing VDI: '
        f'create it first with virtual-size={virtual_size} '
        '("xe vdi-create ... virtual-size=N", then "xe vdi-import '
        'uuid=VDI filename=FILE format=vhd")',
        'send the file whole with its length: vhd-tool refuses a chunked '
        'upload')


def rackspace_findings(virtual_size: int) -> list[Finding]:
    """Rackspace's system disk limit."""
    if virtual_size <= RACKSPACE_SYSTEM_DISK:
        return []
    return [Finding(
        Level.PROBLEM, 'system-disk-over-160gb',
        f'virtual size {virtual_size} bytes is over the 160 GB '
        f'({RACKSPACE_SYSTEM_DISK} bytes) Rackspace imports as a system disk',
        'make the image smaller (its file systems can grow at boot)')]
