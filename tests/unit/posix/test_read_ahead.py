"""A conversion reads the data of a sparse input, not the holes after it.

The kernel's own read-ahead would run past each data extent into the hole
after it, filling the page cache with pages of zeros (up to the device's
read-ahead window per extent).  The input is read from a cold cache (its
pages dropped with ``POSIX_FADV_DONTNEED``), converted by the command a
user runs, and util-linux's ``fincore`` (``mincore``, which reads nothing)
says how much of it is in the page cache: the data, and not a page more.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from diskimage_vhd.posix.io import reads_announced
from tests import base

MiB = base.MiB
PAGE = 4096
EXTENT = 1 * MiB
SECOND = 16 * MiB  # where the second extent starts, after a 15 MiB hole
SIZE = 32 * MiB  # and a hole to the end


def resident(path: str) -> int:
    """Bytes of ``path`` in the page cache, as ``fincore`` counts them."""
    done = subprocess.run(['fincore', '--bytes', '--raw', '--noheadings',
                           '--output', 'RES', path], capture_output=True,
                          text=True, check=True)
    return int(done.stdout)


def drop_cache(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages are not dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class ReadAheadTest(base.TempDirTestCase):

    def setUp(self) -> None:
        super().setUp()
        if shutil.which('fincore') is None:
            self.skipTest('fincore (util-linux) is not installed')
        self.raw = base.make_raw(self.path('in.raw'), SIZE, [
            (0, base.random_bytes(EXTENT, 1)),
            (SECOND, base.random_bytes(EXTENT, 2))])
        drop_cache(self.raw)
        if resident(self.raw):
            self.skipTest('the page cache cannot be dropped here (tmpfs?)')

    def test_converting_reads_the_data_and_no_page_of_the_holes(self) -> None:
        for target in ('dynamic', 'fixed'):
            with self.subTest(target=target):
                drop_cache(self.raw)
                out = self.path(f'out-{target}.vhd')
                result = base.run([sys.executable, '-m', 'diskimage_vhd',
                                   'convert', '-q', '--to', target, self.raw,
                                   out], cwd=base.REPO_ROOT, timeout=120)
                self.assertEqual(result.returncode, 0, result.stderr)
                # The data, and the last page: where a VHD's footer would
                # be, read to tell a raw image from a VHD.
                self.assertEqual(resident(self.raw), 2 * EXTENT + PAGE)

    def test_the_referee_sees_the_kernel_read_into_the_hole(self) -> None:
        """The same read of the first extent, the kernel left to guess,
        then told not to: the count is able to tell the two apart.
        """
        fd = os.open(self.raw, os.O_RDONLY)
        self.addCleanup(os.close, fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_NORMAL)
        os.preadv(fd, [bytearray(EXTENT)], 0)
        self.assertGreater(resident(self.raw), EXTENT)
        drop_cache(self.raw)
        reads_announced(fd)
        os.preadv(fd, [bytearray(EXTENT)], 0)
        self.assertEqual(resident(self.raw), EXTENT)
