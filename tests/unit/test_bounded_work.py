"""Work is bounded by the data a file really holds, not by what it claims.

A small or sparse file written by an attacker must not make the tools
read for hours: each case runs the real command in a child process and
reads the kernel's count of the bytes it read (``/proc/PID/io``).
"""

from __future__ import annotations

import array
import os
import struct
import sys

from diskimage_vhd.format import bat as batlib
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.vhdutil.create import create
from tests import base

GiB = 1024 ** 3
MiB = base.MiB

# Runs a console script's main in a child and then prints the bytes it
# read, from the kernel's own accounting.
_MEASURED = ('import sys\n'
             'from {module} import main\n'
             'status = main(sys.argv[1:])\n'
             'io = dict(l.split(": ") for l in open("/proc/self/io").read()'
             '.split("\\n") if l)\n'
             'print("RCHAR", io["rchar"], file=sys.stderr)\n'
             'sys.exit(status)\n')


def measured(module: str, *args: str):
    """Run ``module``'s ``main`` on ``args``; return (result, bytes read)."""
    result = base.run([sys.executable, '-c', _MEASURED.format(module=module),
                       *args], timeout=300)
    lines = result.stderr.splitlines()
    count = [int(line.split()[1]) for line in lines
             if line.startswith('RCHAR ')]
    return result, count[0] if count else None


class AllocatedOverHolesTest(base.TempDirTestCase):
    """64 GiB with every block allocated, every block a hole in the file."""

    def setUp(self) -> None:
        super().setUp()
        self.vhd = self.path('holes.vhd')
        create(self.vhd, 64 * 1024, 0, False,
               timestamp=str(base.FIXTURE_UNIX_TIMESTAMP))
        with open(self.vhd, 'r+b') as handle:
            data = handle.read()
            footer = data[-512:]
            header = DynamicHeader.parse(data[512:1536])
            first = len(data) // 512 - 1 + 7  # past the metadata, aligned
            blocks = header.max_table_entries
            stride = 4104
            entries = array.array('I', (first + i * stride
                                        for i in range(blocks)))
            handle.seek(header.table_offset)
            handle.write(batlib.encode(entries))
            end = (first + blocks * stride) * 512
            handle.truncate(end)
            handle.seek(end)
            handle.write(footer)
        self.assertGreater(os.path.getsize(self.vhd), 64 * GiB)
        self.assertLess(os.stat(self.vhd).st_blocks * 512, 64 * MiB)

    def test_convert_reads_no_holes(self) -> None:
        out = self.path('out.vhd')
        result, read = measured('diskimage_vhd.cli.commands', 'convert', '-q',
                                self.vhd, out)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertLess(read, 256 * MiB)
        with open(out, 'rb') as handle:
            handle.seek(-512, os.SEEK_END)
            self.assertEqual(Footer.parse(handle.read()).current_size,
                             64 * GiB)

    def test_check_bitmaps_reads_no_holes(self) -> None:
        result, read = measured('diskimage_vhd.vhdutil.cli', 'check', '-b',
                                '-n', self.vhd)
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn('is valid', result.stdout)
        self.assertLess(read, 256 * MiB)


class HugeTableClaimTest(base.TempDirTestCase):
    """A sparse file whose header claims 2^32 - 1 BAT entries."""

    def test_query_counts_without_reading_the_table(self) -> None:
        vhd = self.path('claim.vhd')
        create(vhd, 100, 0, False, timestamp=str(base.FIXTURE_UNIX_TIMESTAMP))
        with open(vhd, 'r+b') as handle:
            data = handle.read()
        footer = Footer.parse(data[-512:])
        footer.current_size = footer.original_size = 0xFFFFFFFF << 21
        footer.checksum = footer.computed_checksum()
        header = DynamicHeader.parse(data[512:1536])
        header.max_table_entries = 0xFFFFFFFF
        header.checksum = header.computed_checksum()
        table_bytes = 0xFFFFFFFF * 4
        size = c.TABLE_OFFSET + table_bytes + 512 * 8
        with open(vhd, 'r+b') as handle:
            handle.write(footer.pack() + header.pack())
            handle.truncate(size)
            handle.seek(size - 512)
            handle.write(footer.pack())
        # What the table holds: the old metadata, then holes (zeros, which
        # are allocated entries naming sector 0).
        written = data[c.TABLE_OFFSET:-512]
        old = struct.unpack(f'>{len(written) // 4}I', written)
        expected = 0xFFFFFFFF - old.count(c.UNALLOCATED)
        result, read = measured('diskimage_vhd.vhdutil.cli', 'query', '-n',
                                vhd, '-a')
        self.assertEqual(result.stdout.strip(), str(expected), result.stderr)
        self.assertLess(read, 64 * MiB)


class ReadAheadTest(base.TempDirTestCase):
    """Reading ahead asks the kernel for data, never for the holes between.

    Read-ahead of a hole fills the page cache with zero pages: a disk of
    many small extents made the kernel read gigabytes of them.  The kernel
    is the referee: ``fincore`` counts the input's pages in the cache.
    """

    def test_holes_between_extents_are_not_read_ahead(self) -> None:
        if base.run(['fincore', '--version']).returncode != 0:
            self.skipTest('fincore (util-linux) is not installed')
        extent = 64 * 1024
        blocks = 8
        writes = []
        for index in range(blocks):  # data at both ends of each block
            start = index * c.BLOCK_SIZE
            writes.append((start, b'\x01' * extent))
            writes.append((start + c.BLOCK_SIZE - extent, b'\x02' * extent))
        raw = base.make_raw(self.path('ends.raw'), blocks * c.BLOCK_SIZE,
                            writes)
        probe = base.run(['fincore', '--bytes', '--raw', '--noheadings',
                          '--output', 'RES', raw])
        if probe.returncode != 0 or int(probe.stdout) == 0:
            self.skipTest(f'the page cache of {self.tmp} cannot be seen')
        result = base.run(['diskimage-vhd', 'convert', '-q', raw,
                           self.path('ends.vhd')])
        self.assertEqual(result.returncode, 0, result.stderr)
        cached = int(base.run(['fincore', '--bytes', '--raw', '--noheadings',
                               '--output', 'RES', raw]).stdout)
        self.assertLessEqual(cached, 2 * blocks * extent)

    def test_advice_only_where_the_disk_would_be_read(self) -> None:
        """Read-ahead is asked for data not yet in the page cache, and not
        for data already there (the look-up alone costs 40 ms in 2 GiB).
        ``strace`` counts the advice; ``fincore`` tells cold from warm.
        """
        if base.run(['strace', '-V']).returncode != 0:
            self.skipTest('strace is not installed')
        raw = base.make_raw(self.path('data.raw'), 8 * c.BLOCK_SIZE,
                            [(i * c.BLOCK_SIZE, os.urandom(MiB))
                             for i in range(8)])

        def advice() -> int:
            log = self.path('strace.log')
            result = base.run(['strace', '-f', '-e', 'trace=fadvise64',
                               '-o', log, 'diskimage-vhd', 'convert', '-q',
                               raw, self.path('out.vhd')])
            self.assertEqual(result.returncode, 0, result.stderr)
            os.unlink(self.path('out.vhd'))
            with open(log) as lines:
                return sum('WILLNEED' in line for line in lines)

        self.assertEqual(advice(), 0)  # just written: every page cached
        fd = os.open(raw, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # evict
        finally:
            os.close(fd)
        cached = base.run(['fincore', '--bytes', '--raw', '--noheadings',
                           '--output', 'RES', raw]).stdout.strip()
        if cached != '0':
            self.skipTest(f'the page cache of {self.tmp} cannot be emptied')
        # Every block but the first, whose first page was read to tell a
        # raw image from a VHD before the copy began.
        self.assertEqual(advice(), 7)
