"""Loop-mounted XFS and btrfs, made on a sparse file, for the reflink rows.

On these file systems ``copy_file_range`` can share the input's extents
instead of copying them; ``df`` (here ``statvfs``) shows what an output
really takes, where ``du`` counts shared extents in full.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Optional

from vhdbench.measure import ToolFailed, check_call, remove

MKFS = {'xfs': ['mkfs.xfs', '-q', '-m', 'reflink=1'],
        'btrfs': ['mkfs.btrfs', '-q']}


def unavailable(kind: str) -> Optional[str]:
    """Why a ``kind`` row cannot run here, or None if it can."""
    if os.geteuid() != 0:
        return 'mounting a file system needs root'
    for tool in (MKFS[kind][0], 'mount', 'umount'):
        if shutil.which(tool) is None:
            return f'{tool} is not installed'
    with open('/proc/filesystems') as known:
        if kind not in known.read().split():
            return f'the kernel has no {kind}'
    return None


class LoopFilesystem:
    """A ``kind`` file system on a sparse ``size``-byte file, loop-mounted.

    ``close`` unmounts (the loop device goes with it: ``mount -o loop``
    sets autoclear) and removes the file; it is safe to call twice and is
    called from the benchmark's ``finally``, so SIGINT and SIGTERM clean up.
    """

    def __init__(self, kind: str, workdir: str, size: int):
        self.kind = kind
        self.image = os.path.join(workdir, f'{kind}.img')
        self.mountpoint = os.path.join(workdir, kind)
        self.mounted = False
        with open(self.image, 'wb') as image:
            image.truncate(size)
        os.mkdir(self.mountpoint)
        try:
            check_call([*MKFS[kind], self.image])
            check_call(['mount', '-o', 'loop', self.image, self.mountpoint])
            self.mounted = True
        except BaseException:
            self.close()
            raise

    def used(self) -> int:
        """Bytes in use on the file system, after writing everything out."""
        os.sync()
        if self.kind == 'btrfs':  # commit, so freed extents are counted
            check_call(['btrfs', 'filesystem', 'sync', self.mountpoint])
        st = os.statvfs(self.mountpoint)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def close(self) -> None:
        if self.mounted:
            done = subprocess.run(['umount', self.mountpoint],
                                  capture_output=True, text=True)
            if done.returncode != 0:  # busy a moment after a killed tool
                done = subprocess.run(['umount', '-l', self.mountpoint],
                                      capture_output=True, text=True)
            if done.returncode != 0:
                raise ToolFailed(f'umount {self.mountpoint}: '
                                 f'{done.stderr.strip()}')
            self.mounted = False
        if os.path.isdir(self.mountpoint):
            os.rmdir(self.mountpoint)
        remove(self.image)
