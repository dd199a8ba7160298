"""Partitioned raw disks made by the real tools, on plain files.

``sfdisk`` writes the table; each file system is made by its own mkfs in a
separate file and copied into place with ``dd conv=notrunc,sparse``, so
no loop device (and no root) is needed.  ``sfdisk -J`` and ``blkid -p``
are the referees the readers are checked against.
"""

from __future__ import annotations

import json
import os
import shutil
import unittest
from typing import Dict, List, Optional, Sequence, Tuple

from tests import base

SECTOR = 512
MiB = 1024 * 1024
TOOL_PATH = os.pathsep.join([os.environ.get('PATH', ''), '/usr/sbin', '/sbin'])
# Which Debian package has each tool, for the failure message.
PACKAGES = {'sfdisk': 'fdisk', 'blkid': 'util-linux', 'mke2fs': 'e2fsprogs',
            'mkfs.xfs': 'xfsprogs', 'mkfs.btrfs': 'btrfs-progs',
            'mkswap': 'util-linux', 'mkfs.vfat': 'dosfstools',
            'dd': 'coreutils', 'qemu-img': 'qemu-utils'}
MKFS = {
    'ext2': ['mke2fs', '-q', '-F', '-t', 'ext2'],
    'ext3': ['mke2fs', '-q', '-F', '-t', 'ext3'],
    'ext4': ['mke2fs', '-q', '-F', '-t', 'ext4'],
    'xfs': ['mkfs.xfs', '-q', '-f'],
    'btrfs': ['mkfs.btrfs', '-q', '-f'],
    'swap': ['mkswap'],
    'vfat': ['mkfs.vfat'],
}
# The smallest sizes the tools accept, rounded up.
MIN_SIZE = {'xfs': 300 * MiB, 'btrfs': 128 * MiB}


def tool(test: unittest.TestCase, name: str) -> str:
    """A referee or maker the suite needs: fail (not skip) if missing."""
    path = shutil.which(name, path=TOOL_PATH)
    if path is None:
        test.fail(f'{name} is not installed (apt-get install '
                  f'{PACKAGES.get(name, name)})')
    return path


def run_tool(test: unittest.TestCase, *args: str,
             stdin: Optional[str] = None) -> str:
    result = base.run([tool(test, args[0]), *args[1:]], input=stdin)
    test.assertEqual(result.returncode, 0,
                     f'{" ".join(args)}: {result.stdout}{result.stderr}')
    return result.stdout


def partition(test: unittest.TestCase, path: str, size: int,
              script: str) -> str:
    """A sparse raw disk of ``size`` bytes partitioned by ``sfdisk``."""
    base.make_raw(path, size)
    run_tool(test, 'sfdisk', '-q', '--no-reread', '--no-tell-kernel', path,
             stdin=script)
    return path


def sfdisk_partitions(test: unittest.TestCase, path: str
                      ) -> List[Tuple[int, int, int, str]]:
    """(number, start byte, size bytes, type) as sfdisk lists them."""
    table = json.loads(run_tool(test, 'sfdisk', '-J', path))['partitiontable']
    listed = []
    for entry in table['partitions']:
        number = int(entry['node'][len(path):])
        listed.append((number, entry['start'] * SECTOR,
                       entry['size'] * SECTOR, entry['type'].upper()))
    return listed


def put_filesystem(test: unittest.TestCase, disk: str, start: int, size: int,
                   kind: str) -> None:
    """Make a ``kind`` file system of ``size`` bytes at byte ``start``."""
    image = disk + f'.{start}.{kind}'
    base.make_raw(image, size)
    run_tool(test, *MKFS[kind], image)
    run_tool(test, 'dd', f'if={image}', f'of={disk}', 'bs=512',
             f'seek={start // SECTOR}', 'conv=notrunc,sparse', 'status=none')
    os.unlink(image)


def blkid_type(test: unittest.TestCase, path: str, offset: int) -> str:
    """What blkid (low-level probing) finds at ``offset``, '' for nothing."""
    result = base.run([tool(test, 'blkid'), '-p', '-O', str(offset), '-o',
                       'value', '-s', 'TYPE', path])
    return result.stdout.strip()


def layout(test: unittest.TestCase, path: str, label: str,
           filesystems: Sequence[Optional[str]], size: int = 40 * MiB,
           disk_size: Optional[int] = None) -> str:
    """A disk with one partition a file system (None: left empty), each
    ``size`` bytes or the tool's minimum, starting at 1 MiB.
    """
    sizes = [max(size, MIN_SIZE.get(kind or '', 0)) for kind in filesystems]
    total = disk_size or MiB * 2 + sum(sizes)
    lines = [f'label: {label}'] + [f'size={s // SECTOR}' for s in sizes]
    partition(test, path, total, '\n'.join(lines) + '\n')
    for (_n, start, _s, _t), kind in zip(sfdisk_partitions(test, path),
                                         filesystems):
        if kind:
            put_filesystem(test, path, start, _s, kind)
    return path


def expected_filesystems(test: unittest.TestCase, path: str
                         ) -> Dict[int, str]:
    """partition number -> blkid's TYPE, for each partition sfdisk lists."""
    return {number: blkid_type(test, path, start)
            for number, start, _size, _type in sfdisk_partitions(test, path)}
