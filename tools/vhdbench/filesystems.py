"""Loop-mounted file systems, made on a sparse file.

On XFS and btrfs ``copy_file_range`` can share the input's extents instead
of copying them; ``df`` (here ``statvfs``) shows what an output really
takes, where ``du`` counts shared extents in full.  An ext4 mounted without
``discard`` holds the 100,000-extent row: where the work directory's file
system discards every freed extent (2.6 ms each on a virtio disk), removing
one output between runs takes minutes; its image is written full of zeros
first, so that it is a few large extents, quick to remove in turn.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Optional

from vhdbench.measure import ToolFailed, check_call, remove

PREFILL_CHUNK = 8 * 1024 * 1024
MKFS = {'xfs': ['mkfs.xfs', '-q', '-m', 'reflink=1'],
        'btrfs': ['mkfs.btrfs', '-q'],
        'ext4': ['mkfs.ext4', '-q', '-F', '-E', 'nodiscard']}


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

    def __init__(self, kind: str, workdir: str, size: int,
                 prefill: bool = False):
        self.kind = kind
        self.image = os.path.join(workdir, f'{kind}.img')
        self.mountpoint = os.path.join(workdir, kind)
        self.mounted = False
        os.mkdir(self.mountpoint)
        try:
            with open(self.image, 'wb') as image:
                image.truncate(size)
                if prefill:
                    chunk = bytes(PREFILL_CHUNK)
                    for _ in range(size // PREFILL_CHUNK):
                        image.write(chunk)
                    image.flush()
                    os.fsync(image.fileno())
            check_call([*MKFS[kind], self.image])
            check_call(['mount', '-o', 'loop,nodiscard', self.image,
                        self.mountpoint])
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
