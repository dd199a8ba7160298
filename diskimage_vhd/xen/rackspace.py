"""What Rackspace's cloud does with an imported VHD, beyond XenServer.

nova's XenAPI driver grows the root disk only when ``_auto_configure_disk``
finds exactly one partition, numbered 1, holding ext3 or ext4 (it asks
parted; we read the table and the superblock ourselves), and refuses a
flavour whose root disk plus 10 GiB is smaller than the disk's physical
size (``_check_vdi_size``).  Cloud Files (Swift) takes at most 5 GB in one
object.  The image's Glance properties follow from these.
"""

from __future__ import annotations

import dataclasses

from diskimage_vhd.errors import VhdError
from diskimage_vhd.format.units import ceil_div
from diskimage_vhd.image.partitions import PartitionTable
from diskimage_vhd.image.partitions import PartitionTableError
from diskimage_vhd.image.partitions import read_partition_table
from diskimage_vhd.image.reader import VhdImage
from diskimage_vhd.sizes import format_size
from diskimage_vhd.xen.readiness import Finding
from diskimage_vhd.xen.readiness import Level

# nova: the file systems _auto_configure_disk can grow (resize2fs).
RESIZABLE = ('ext3', 'ext4')
# nova's VHD_SIZE_CHECK_FUDGE_FACTOR_GB.
FUDGE_GIB = 10
# Swift's largest single object (max_file_size): 5 GB, decimal.
CLOUD_FILES_OBJECT = 5 * 10 ** 9
GIB = 1024 ** 3


@dataclasses.dataclass(frozen=True)
class AutoDiskConfig:
    """Whether nova can grow the root disk; ``reason`` says why not."""

    enabled: bool
    reason: str = ''

    def finding(self) -> Finding:
        return Finding(
            Level.WARNING, 'partitions-not-resizable',
            f'the root disk will not grow with the flavour: {self.reason}; '
            "nova's _auto_configure_disk needs exactly one partition, "
            'numbered 1, holding ext3 or ext4',
            'upload with auto_disk_config=False (grow it in the guest, e.g. '
            'with cloud-init growpart), or lay the disk out that way')


def _describe(table: PartitionTable) -> str:
    return ', '.join(f'{p.number}: {_kind(p.filesystem, p.extended)}'
                     for p in table.partitions)


def _kind(filesystem: str | None, extended: bool = False) -> str:
    if extended:
        return 'extended'
    return filesystem or 'unknown file system'


def judge(table: PartitionTable) -> AutoDiskConfig:
    """nova's three tests, in its order: one partition, ext3/4, number 1."""
    if table.scheme is None:
        held = (f'the {table.whole_disk} file system fills it'
                if table.whole_disk else 'no file system found at its start')
        return AutoDiskConfig(False, f'the disk has no partition table ({held})')
    count = len(table.partitions)
    if count != 1:
        listed = f' ({_describe(table)})' if count else ''
        return AutoDiskConfig(False, f'the disk has {count} partitions'
                                     f'{listed}, not one')
    only = table.partitions[0]
    if only.filesystem not in RESIZABLE:
        return AutoDiskConfig(False, f'partition {only.number} holds '
                                     f'{_kind(only.filesystem, only.extended)}')
    if only.number != 1:
        return AutoDiskConfig(False, f'the only partition is numbered '
                                     f'{only.number}, not 1')
    return AutoDiskConfig(True)


def auto_disk_config(image: VhdImage) -> AutoDiskConfig:
    """Judge the partitions of an open VHD."""
    if image.footer.is_differencing:
        return AutoDiskConfig(False, 'a differencing disk: its partitions '
                                     'are in its parent')
    try:
        return judge(read_partition_table(image))
    except PartitionTableError as error:
        return AutoDiskConfig(False, f'its partition table is damaged '
                                     f'({error})')
    except VhdError as error:
        return AutoDiskConfig(False, f'its data cannot be read '
                                     f'({error.problem})')


def disk_findings(image: VhdImage) -> list[Finding]:
    """nova's _check_vdi_size, from the file's physical size."""
    return physical_size_findings(image.file_size)


def physical_size_findings(physical: int) -> list[Finding]:
    """A note only when the rule rules a flavour out: up to 10 GiB, every
    root disk (0 GiB included) takes the image.
    """
    smallest = ceil_div(physical, GIB) - FUDGE_GIB
    if smallest <= 0:
        return []
    return [Finding(
        Level.NOTE, 'physical-size',
        f'nova refuses a flavour whose root disk plus {FUDGE_GIB} GiB is '
        f'smaller than the physical size, {format_size(physical)} '
        f'(_check_vdi_size)',
        f'flavours with a root disk of {smallest} GiB or more take it')]


def upload_findings(file_size: int) -> list[Finding]:
    """Cloud Files' object limit."""
    if file_size <= CLOUD_FILES_OBJECT:
        return []
    return [Finding(
        Level.NOTE, 'cloud-files-5gb',
        f'the file is {file_size} bytes, over the 5 GB (5000000000 bytes) '
        'Cloud Files takes in one object',
        'upload it segmented (a static large object, as openstacksdk\'s '
        'create_object and "swift upload --segment-size" do)')]
