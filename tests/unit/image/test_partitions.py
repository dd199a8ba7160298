"""Partition tables and file systems read as sfdisk and blkid see them."""

from __future__ import annotations

import struct
import zlib

from diskimage_vhd import convert
from diskimage_vhd.image.filesystems import identify
from diskimage_vhd.image.partitions import PartitionTableError
from diskimage_vhd.image.partitions import read_partition_table
from diskimage_vhd.image.reader import VhdImage
from diskimage_vhd.image.sources import RawSource
from tests import base
from tests import disks
from tests.disks import MiB
from tests.disks import SECTOR

EVERY_FILESYSTEM = ('ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'swap', 'vfat')


class CountingSource(RawSource):
    """A real raw source that records how many bytes were asked of it."""

    requested = 0

    def read_into(self, offset: int, view: memoryview) -> None:
        self.requested += len(view)
        super().read_into(offset, view)


def table_of(path: str):
    with RawSource(path) as disk:
        return read_partition_table(disk)


def listed(table):
    return [(p.number, p.start, p.size, p.type) for p in table.partitions]


class TestAgainstTheTools(base.TempDirTestCase):

    def assertMatchesReferees(self, path: str, table) -> None:
        expected = disks.sfdisk_partitions(self, path)
        mine = [(n, s, z, t.upper().removeprefix('0X').lstrip('0') or '0')
                for n, s, z, t in listed(table)]
        theirs = [(n, s, z, t.lstrip('0') or '0') for n, s, z, t in expected]
        self.assertEqual(mine, theirs)
        blkid = disks.expected_filesystems(self, path)
        found = {p.number: p.filesystem or '' for p in table.partitions
                 if not p.extended}
        self.assertEqual(found, {n: t for n, t in blkid.items()
                                 if n in found})

    def test_gpt_with_every_file_system(self) -> None:
        raw = disks.layout(self, self.path('gpt.raw'), 'gpt',
                           EVERY_FILESYSTEM)
        table = table_of(raw)
        self.assertEqual(table.scheme, 'gpt')
        self.assertEqual([p.filesystem for p in table.partitions],
                         list(EVERY_FILESYSTEM))
        self.assertMatchesReferees(raw, table)
        # The same table read through the VHD's virtual disk.
        vhd = self.path('gpt.vhd')
        convert(raw, vhd)
        with VhdImage(vhd) as image:
            self.assertEqual(read_partition_table(image), table)

    def test_mbr_with_logical_partitions(self) -> None:
        raw = disks.partition(self, self.path('mbr.raw'), 200 * MiB,
                              'label: dos\nsize=40M, type=83\ntype=5\n'
                              'size=40M, type=83\nsize=40M, type=82\n')
        parts = disks.sfdisk_partitions(self, raw)
        self.assertEqual([p[0] for p in parts], [1, 2, 5, 6])
        for (_n, start, size, _t), kind in zip(
                [parts[0], parts[2], parts[3]], ('ext4', 'ext3', 'swap')):
            disks.put_filesystem(self, raw, start, size, kind)
        table = table_of(raw)
        self.assertEqual(table.scheme, 'mbr')
        self.assertEqual([(p.number, p.filesystem, p.extended)
                          for p in table.partitions],
                         [(1, 'ext4', False), (2, None, True),
                          (5, 'ext3', False), (6, 'swap', False)])
        self.assertMatchesReferees(raw, table)

    def test_ext_kinds_follow_the_feature_flags(self) -> None:
        cases = [(['-t', 'ext2'], 'ext2'), (['-t', 'ext3'], 'ext3'),
                 (['-t', 'ext4'], 'ext4'),
                 (['-t', 'ext4', '-O', '^has_journal'], 'ext4'),
                 (['-t', 'ext2', '-O', 'extent'], 'ext4'),
                 (['-t', 'ext3', '-O', 'metadata_csum'], 'ext4')]
        for options, kind in cases:
            with self.subTest(options=options):
                path = base.make_raw(self.path('fs.img'), 16 * MiB)
                disks.run_tool(self, 'mke2fs', '-q', '-F', *options, path)
                self.assertEqual(disks.blkid_type(self, path, 0), kind)
                with RawSource(path) as disk:
                    self.assertEqual(identify(disk, 0, disk.size), kind)

    def test_whole_disk_file_systems(self) -> None:
        for kind in ('ext4', 'vfat', 'xfs'):
            with self.subTest(kind=kind):
                path = self.path(f'whole-{kind}.raw')
                disks.put_filesystem(self, base.make_raw(
                    path, disks.MIN_SIZE.get(kind, 40 * MiB)), 0,
                    disks.MIN_SIZE.get(kind, 40 * MiB), kind)
                table = table_of(path)
                self.assertIsNone(table.scheme)
                self.assertEqual(table.partitions, ())
                self.assertEqual(table.whole_disk, kind)
                self.assertEqual(disks.blkid_type(self, path, 0), kind)

    def test_empty_disk_and_empty_table(self) -> None:
        blank = table_of(base.make_raw(self.path('blank.raw'), MiB))
        self.assertEqual((blank.scheme, blank.partitions, blank.whole_disk),
                         (None, (), None))
        empty = table_of(disks.partition(self, self.path('empty.raw'),
                                         8 * MiB, 'label: dos\n'))
        self.assertEqual((empty.scheme, empty.partitions), ('mbr', ()))


class TestDamagedTables(base.TempDirTestCase):

    def gpt(self) -> str:
        return disks.layout(self, self.path('gpt.raw'), 'gpt',
                            ('ext4', None), size=8 * MiB)

    def flip(self, path: str, offset: int) -> None:
        with open(path, 'r+b') as handle:
            handle.seek(offset)
            byte = handle.read(1)
            handle.seek(offset)
            handle.write(bytes([byte[0] ^ 0xFF]))

    def test_damaged_primary_gpt_falls_back_to_the_backup(self) -> None:
        raw = self.gpt()
        good = table_of(raw)
        self.flip(raw, SECTOR + 60)  # the disk GUID, under the header CRC
        self.assertEqual(table_of(raw), good)
        # sfdisk reads the backup too, and finds the same partitions.
        self.assertEqual(len(disks.sfdisk_partitions(self, raw)), 2)

    def test_both_gpt_copies_damaged(self) -> None:
        raw = self.gpt()
        size = 18 * MiB
        self.flip(raw, 2 * SECTOR + 40)  # an entry of the primary array
        self.flip(raw, size - SECTOR + 60)  # the backup header
        with self.assertRaises(PartitionTableError) as caught:
            table_of(raw)
        self.assertIn('primary GPT entry array CRC mismatch',
                      str(caught.exception))
        self.assertIn('backup GPT header CRC mismatch', str(caught.exception))

    def hostile_gpt(self, count: int, entry_size: int) -> str:
        """A protective MBR and a GPT header, CRC right, claiming a lot."""
        path = base.make_raw(self.path('hostile.raw'), 64 * MiB)
        mbr = bytearray(SECTOR)
        struct.pack_into('<B3sB3sII', mbr, 446, 0, b'', 0xEE, b'', 1,
                         64 * MiB // SECTOR - 1)
        mbr[510:512] = b'\x55\xaa'
        header = bytearray(struct.pack(
            '<8sIIIIQQQQ16sQIII', b'EFI PART', 0x10000, 92, 0, 0, 1,
            64 * MiB // SECTOR - 1, 34, 64 * MiB // SECTOR - 34, bytes(16), 2,
            count, entry_size, 0))
        struct.pack_into('<I', header, 16, zlib.crc32(bytes(header)))
        with open(path, 'r+b') as handle:
            handle.write(bytes(mbr) + bytes(header))
        return path

    def test_hostile_entry_counts_are_refused_without_reading(self) -> None:
        for count, entry_size in ((0xFFFFFFFF, 128), (128, 0x80000000),
                                  (4096, 4096), (128, 64)):
            with self.subTest(count=count, entry_size=entry_size):
                path = self.hostile_gpt(count, entry_size)
                with CountingSource(path) as disk:
                    with self.assertRaisesRegex(PartitionTableError,
                                                'not plausible'):
                        read_partition_table(disk)
                    self.assertLess(disk.requested, 16 * 1024)

    def test_partition_beyond_the_disk(self) -> None:
        path = base.make_raw(self.path('beyond.raw'), 8 * MiB)
        mbr = bytearray(SECTOR)
        struct.pack_into('<B3sB3sII', mbr, 446, 0, b'', 0x83, b'', 2048,
                         10 * MiB // SECTOR)
        mbr[510:512] = b'\x55\xaa'
        with open(path, 'r+b') as handle:
            handle.write(mbr)
        with self.assertRaisesRegex(PartitionTableError,
                                    'partition 1 .* lies outside'):
            table_of(path)

    def test_looping_ebr_chain_ends(self) -> None:
        path = disks.partition(self, self.path('ebr.raw'), 64 * MiB,
                               'label: dos\ntype=5\nsize=8M, type=83\n')
        extended = disks.sfdisk_partitions(self, path)[0]
        ebr = extended[1]
        # Point the EBR's link entry back at itself.
        with open(path, 'r+b') as handle:
            handle.seek(ebr + 446 + 16)
            handle.write(struct.pack('<B3sB3sII', 0, b'', 0x05, b'', 0,
                                     2048))
        table = table_of(path)
        self.assertEqual([p.number for p in table.partitions], [1, 5])


class TestBoundedWalk(base.TempDirTestCase):

    def test_a_chain_of_empty_ebrs_is_read_only_so_far(self) -> None:
        """Every EBR read counts, empty or not: 4096 empty EBRs, each
        linking to the next, are read up to MAX_EBRS and no further.
        """
        from diskimage_vhd.image.partitions import MAX_EBRS
        count = 4096
        path = self.path('ebrs.raw')
        entry = struct.Struct('<B3sB3sII')
        with open(path, 'wb') as handle:
            handle.truncate((count + 8) * SECTOR)
            mbr = bytearray(SECTOR)
            mbr[446:462] = entry.pack(0, bytes(3), 0x05, bytes(3), 1,
                                      count + 4)
            mbr[510:512] = b'\x55\xaa'
            handle.write(mbr)
            for index in range(count):
                ebr = bytearray(SECTOR)
                ebr[462:478] = entry.pack(0, bytes(3), 0x05, bytes(3),
                                          index + 1, 1)
                ebr[510:512] = b'\x55\xaa'
                handle.seek((1 + index) * SECTOR)
                handle.write(ebr)
        with CountingSource(path) as disk:
            table = read_partition_table(disk)
            self.assertEqual([p.number for p in table.partitions], [1])
            self.assertLessEqual(disk.requested, (MAX_EBRS + 64) * SECTOR)
