"""The checker gives vhd-util check's verdict, message for message."""

from __future__ import annotations

import os
import struct
import time
import tracemalloc

from diskimage_vhd.errors import UsageError
from diskimage_vhd.errors import VhdError
from diskimage_vhd.format.batmap import BatmapHeader
from diskimage_vhd.format.batmap import map_checksum
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.format.units import sector_padded
from diskimage_vhd.xen.check import check
from tests import base

NOW = base.FIXTURE_UNIX_TIMESTAMP + 60
DYNAMIC_FIXTURES = ('empty-100m.vhd', 'empty-100m-S2048.vhd', 'mixed.full.vhd',
                    'mixed.sparse.vhd', 'mixed.prealloc.vhd')
BATMAP_HEADER = 2048  # in the three-block fixtures
BATMAP = 2560


class Disk:
    """A fixture's bytes, edited through the format structures."""

    def __init__(self, name: str):
        self.data = bytearray(base.read_fixture(name))

    def footer(self, offset: int) -> Footer:
        return Footer.parse(bytes(self.data[offset:offset + 512]))

    def set_footers(self, **fields) -> None:
        """Change both footer copies consistently, checksum recomputed."""
        for offset in (0, len(self.data) - 512):
            footer = self.footer(offset).replace(**fields)
            footer.checksum = footer.computed_checksum()
            self.data[offset:offset + 512] = footer.pack()

    def set_header(self, **fields) -> None:
        header = DynamicHeader.parse(bytes(self.data[512:1536])).replace(**fields)
        header.checksum = header.computed_checksum()
        self.data[512:1536] = header.pack()

    def set_bat(self, index: int, value: int) -> None:
        struct.pack_into('>I', self.data, 1536 + 4 * index, value)

    def set_batmap_bit(self, index: int) -> None:
        self.data[BATMAP + (index >> 3)] |= 0x80 >> (index & 7)
        header = BatmapHeader.parse(
            bytes(self.data[BATMAP_HEADER:BATMAP_HEADER + 512]))
        header.checksum = map_checksum(
            bytes(self.data[BATMAP:BATMAP + 512]), header.batmap_version)
        self.data[BATMAP_HEADER:BATMAP_HEADER + 512] = header.pack()

    def save(self, path: str) -> str:
        with open(path, 'wb') as handle:
            handle.write(self.data)
        return path


class CheckerTestCase(base.TempDirTestCase):

    def check_edit(self, name: str, edit, **options):
        disk = Disk(name)
        edit(disk)
        options.setdefault('now', NOW)
        return check(disk.save(self.path('edited.vhd')), **options)

    def assertError(self, report, message: str) -> None:
        self.assertFalse(report.valid)
        self.assertEqual(report.error, message)


class TestFixturesAreValid(CheckerTestCase):

    def test_every_dynamic_fixture_is_valid_and_ready(self) -> None:
        for name in DYNAMIC_FIXTURES:
            for bitmaps in (False, True):
                with self.subTest(name=name, bitmaps=bitmaps):
                    report = check(base.fixture(name), check_bitmaps=bitmaps,
                                   now=NOW)
                    self.assertTrue(report.valid, report.error)
                    self.assertEqual(report.warnings, [])
                    self.assertEqual(report.exit_code, 0)
                    self.assertEqual(report.disk_type, 'dynamic')

    def test_fixed_fixture_is_valid_with_readiness_warnings(self) -> None:
        report = check(base.fixture('mixed.fixed.vhd'), now=NOW)
        self.assertTrue(report.valid)
        self.assertEqual(len(report.warnings), 2)
        self.assertIn('fixed disk', report.warnings[0])
        self.assertIn('not a whole number of 2 MiB blocks',
                      report.warnings[1])

    def test_to_dict(self) -> None:
        report = check(base.fixture('mixed.sparse.vhd'), now=NOW)
        self.assertEqual(report.to_dict()['valid'], True)
        self.assertEqual(report.to_dict()['error'], None)
        self.assertEqual(report.to_dict()['warnings'], [])


class TestFooters(CheckerTestCase):

    def test_primary_cookie(self) -> None:
        def edit(disk):
            disk.data[-512:-504] = b'xonectix'
        self.assertError(self.check_edit('mixed.sparse.vhd', edit),
                         'primary footer invalid: invalid cookie')

    def test_primary_checksum(self) -> None:
        def edit(disk):
            disk.data[-512 + 64:-512 + 68] = b'\0\0\0\0'
        report = self.check_edit('mixed.sparse.vhd', edit)
        self.assertError(report, 'primary footer invalid: invalid checksum')
        self.assertEqual(report.exit_code, 22)
        self.assertIn('0xfffff04c', report.detail)

    def test_backup_checksum(self) -> None:
        def edit(disk):
            disk.data[64:68] = b'\0\0\0\1'
        self.assertError(self.check_edit('mixed.sparse.vhd', edit),
                         'backup footer invalid: invalid checksum')

    def test_footers_differ(self) -> None:
        def edit(disk):
            copy = disk.footer(0).replace(unique_id=b'\1' * 16)
            copy.checksum = copy.computed_checksum()
            disk.data[0:512] = copy.pack()
        self.assertError(self.check_edit('mixed.sparse.vhd', edit),
                         'primary and backup footers do not match')

    def test_ignore_footer_uses_the_backup(self) -> None:
        def edit(disk):
            disk.data[-512:-504] = b'xonectix'
        report = self.check_edit('mixed.sparse.vhd', edit, ignore_footer=True)
        self.assertTrue(report.valid, report.error)

    def test_each_footer_rule(self) -> None:
        cases = [
            ({'features': 0}, "invalid 'reserved' feature"),
            ({'features': 6}, 'invalid extra features'),
            ({'file_format_version': 0x00020000},
             'invalid file format version'),
            ({'creator_version': 0x00010004},
             'unsupported tap creator version'),
            ({'cylinders': 181}, 'geometry too large'),
            # vhd-util tests a non-dynamic type's data offset first
            ({'disk_type': 5}, 'invalid data offset'),
            ({'disk_type': 5, 'data_offset': c.NO_DATA_OFFSET},
             'invalid type'),
            ({'saved_state': 2}, "invalid 'saved' state"),
            ({'hidden': 2}, "invalid 'hidden' state"),
            ({'reserved': b'\1' + bytes(425)}, "invalid 'reserved' bits"),
            ({'unique_id': bytes(16)}, 'invalid (NULL) uuid'),
        ]
        for fields, problem in cases:
            with self.subTest(fields=fields):
                report = self.check_edit(
                    'mixed.sparse.vhd', lambda d: d.set_footers(**fields))
                self.assertError(report, f'primary footer invalid: {problem}')

    def test_fixed_disk_data_offset(self) -> None:
        def edit(disk):
            footer = disk.footer(len(disk.data) - 512).replace(data_offset=512)
            footer.checksum = footer.computed_checksum()
            disk.data[-512:] = footer.pack()
        self.assertError(self.check_edit('mixed.fixed.vhd', edit),
                         'primary footer invalid: invalid data offset')

    def test_timestamp_in_the_future(self) -> None:
        future = base.FIXTURE_VHD_TIMESTAMP + 3600
        report = self.check_edit('mixed.sparse.vhd',
                                 lambda d: d.set_footers(timestamp=future),
                                 now=base.FIXTURE_UNIX_TIMESTAMP)
        self.assertError(report, 'primary footer invalid: creation time in '
                                 'future')
        self.assertIn('timestamp is 3600 seconds in the future',
                      report.warnings[0])
        ignored = self.check_edit('mixed.sparse.vhd',
                                  lambda d: d.set_footers(timestamp=future),
                                  now=base.FIXTURE_UNIX_TIMESTAMP,
                                  ignore_timestamps=True)
        self.assertTrue(ignored.valid)
        self.assertEqual(len(ignored.warnings), 1)

    def test_slack_of_thirty_minutes_is_valid_but_warned(self) -> None:
        report = check(base.fixture('mixed.sparse.vhd'),
                       now=base.FIXTURE_UNIX_TIMESTAMP - 1800)
        self.assertTrue(report.valid)
        self.assertIn('1800 seconds in the future', report.warnings[0])
        late = check(base.fixture('mixed.sparse.vhd'),
                     now=base.FIXTURE_UNIX_TIMESTAMP - 1801)
        self.assertError(late, 'primary footer invalid: creation time in '
                               'future')

    def test_truncated(self) -> None:
        self.assertError(
            self.check_edit('mixed.sparse.vhd',
                            lambda d: d.data.__delitem__(slice(-100, None))),
            'primary footer invalid: invalid cookie')
        self.assertError(
            self.check_edit('mixed.sparse.vhd',
                            lambda d: d.data.__delitem__(slice(300, None))),
            'error calculating end of file: -22')
        self.assertError(
            self.check_edit('mixed.sparse.vhd',
                            lambda d: d.data.__delitem__(slice(0, None))),
            'error calculating end of file: -22')

    def test_short_footer_is_valid(self) -> None:
        report = self.check_edit(
            'mixed.sparse.vhd', lambda d: d.data.__delitem__(slice(-1, None)))
        self.assertTrue(report.valid, report.error)

    def test_invalid_file_size(self) -> None:
        def edit(disk):
            footer = bytes(disk.data[-512:])
            del disk.data[-512:]
            disk.data += b'\0\0' + footer[:511]
        size = len(base.read_fixture('mixed.sparse.vhd')) + 1
        self.assertError(self.check_edit('mixed.sparse.vhd', edit),
                         f'invalid file size: 0x{size:x}')

    def test_raw_file(self) -> None:
        report = check(base.fixture('mixed.raw'), now=NOW)
        self.assertError(report, 'primary footer invalid: invalid cookie')
        self.assertEqual(report.warnings, [])


class TestHeader(CheckerTestCase):

    def test_cookie(self) -> None:
        def edit(disk):
            disk.data[512:520] = b'xxsparse'
        self.assertError(self.check_edit('mixed.sparse.vhd', edit),
                         'header is invalid: invalid cookie')

    def test_checksum(self) -> None:
        def edit(disk):
            disk.data[512 + 36:512 + 40] = b'\0\0\0\1'
        report = self.check_edit('mixed.sparse.vhd', edit)
        self.assertError(report, 'header is invalid: invalid checksum')
        self.assertIn('0xfffff474', report.detail)

    def test_each_header_rule(self) -> None:
        cases = [
            ({'header_version': 0x00020000}, 'invalid header version'),
            ({'data_offset': 0}, 'invalid data offset'),
            ({'table_offset': 1000}, 'invalid table offset'),
            ({'table_offset': 0}, 'invalid table offset'),
            ({'block_size': 3 << 20}, 'invalid block size'),
            ({'reserved1': 1}, 'invalid reserved bits'),
            ({'reserved2': b'\1' + bytes(255)}, 'invalid reserved bits'),
        ]
        for fields, problem in cases:
            with self.subTest(fields=fields):
                report = self.check_edit(
                    'mixed.sparse.vhd', lambda d: d.set_header(**fields))
                self.assertError(report, f'header is invalid: {problem}')

    def test_huge_table_claim_is_refused_without_allocating(self) -> None:
        tracemalloc.start()
        try:
            report = self.check_edit(
                'mixed.sparse.vhd',
                lambda d: d.set_header(max_table_entries=0xFFFFFFFF))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        self.assertError(report, 'header is invalid: invalid table offset')
        self.assertLess(peak, 32 * base.MiB)

    def test_parent_fields_of_a_dynamic_disk(self) -> None:
        cases = [
            ({'parent_unicode_name': b'\0a' + bytes(510)},
             'invalid non-null parent name'),
            ({'parent_unique_id': b'\1' * 16}, 'invalid non-null parent uuid'),
            ({'parent_timestamp': 5}, 'invalid non-zero parent timestamp'),
            ({'parent_locators': bytes(4) + b'\0\0\0\1' + bytes(184)},
             'invalid non-null parent locators'),
        ]
        for fields, problem in cases:
            with self.subTest(fields=fields):
                report = self.check_edit(
                    'mixed.sparse.vhd', lambda d: d.set_header(**fields))
                self.assertError(report,
                                 f'differencing header is invalid: {problem}')

    def test_data_offset_past_the_end(self) -> None:
        report = self.check_edit(
            'mixed.sparse.vhd', lambda d: d.set_footers(data_offset=1 << 40))
        self.assertError(report, 'error reading header: -5')
        self.assertEqual(report.exit_code, 5)


class TestBat(CheckerTestCase):

    def test_overlapping_blocks(self) -> None:
        report = self.check_edit('mixed.sparse.vhd',
                                 lambda d: d.set_bat(2, 7 + 100))
        self.assertError(report,
                         'block 0 (offset 0x7) clobbers block 2 (offset 0x6b)')

    def test_overlap_is_reported_before_a_later_block_clobbers_headers(
            self) -> None:
        # vhd-util compares block 0 with every other block before it looks
        # at block 1's own placement.
        report = self.check_edit('mixed.full.vhd', lambda d: d.set_bat(1, 3))
        self.assertError(report,
                         'block 0 (offset 0x7) clobbers block 1 (offset 0x3)')

    def test_clobbers_headers(self) -> None:
        self.assertError(
            self.check_edit('mixed.sparse.vhd', lambda d: d.set_bat(0, 3)),
            'block 0 (offset 0x3) clobbers headers')

    def test_outside_the_file(self) -> None:
        self.assertError(
            self.check_edit('mixed.sparse.vhd',
                            lambda d: d.set_bat(2, 0x100000)),
            'block 2 (offset 0x100000) clobbers footer')

    def test_overlap_check_can_be_skipped(self) -> None:
        report = self.check_edit('mixed.sparse.vhd',
                                 lambda d: d.set_bat(2, 7 + 100),
                                 skip_overlaps=True)
        self.assertTrue(report.valid, report.error)
        with self.assertRaises(UsageError):
            check(base.fixture('mixed.sparse.vhd'), check_bitmaps=True,
                  skip_overlaps=True)

    def test_disk_larger_than_its_bat(self) -> None:
        self.assertError(
            self.check_edit('mixed.sparse.vhd',
                            lambda d: d.set_header(max_table_entries=2)),
            'VHD size (3 blocks) exceeds BAT size (2)')

    def test_many_duplicate_entries_are_fast(self) -> None:
        # 200000 blocks all at one offset: vhd-util's pairwise loop would
        # make 4e10 comparisons; the checker must answer in seconds.
        entries = 200000
        layout_bat = 1536 + sector_padded(entries * 4)
        metadata_end = layout_bat + 512 + sector_padded(-(-entries // 8))
        block = metadata_end // 512 + 7
        size = (block + 4097) * 512 + 512
        disk = Disk('mixed.sparse.vhd')
        footer = disk.footer(0).replace(current_size=entries * c.BLOCK_SIZE)
        footer = footer.replace(creator_version=0x00010001)
        footer.cylinders, footer.heads, footer.sectors_per_track = \
            65535, 16, 255
        footer.checksum = footer.computed_checksum()
        header = DynamicHeader.for_xenserver(entries)
        data = bytearray(size)
        data[0:512] = footer.pack()
        data[512:1536] = header.pack()
        data[1536:1536 + entries * 4] = struct.pack('>I', block) * entries
        data[-512:] = footer.pack()
        path = self.path('dups.vhd')
        with open(path, 'wb') as handle:
            handle.write(data)
        started = time.monotonic()
        report = check(path, now=NOW)
        self.assertLess(time.monotonic() - started, 20)
        self.assertError(report, f'block 0 (offset 0x{block:x}) clobbers '
                                 f'block 1 (offset 0x{block:x})')

    def test_huge_sparse_disk_with_an_empty_bat(self) -> None:
        # A 64 GiB sparse file whose header claims 2^32 - 1 entries: the BAT
        # reads as zeros, so block 0 sits on the headers; found at once.
        disk = Disk('mixed.sparse.vhd')
        path = self.path('huge.vhd')
        size = 64 * 1024 ** 3
        entries = 0xFFFFFFFF // 2
        footer = disk.footer(0).replace(current_size=entries * c.BLOCK_SIZE,
                                        creator_version=0x00010001)
        footer.cylinders, footer.heads, footer.sectors_per_track = \
            65535, 16, 255
        footer.checksum = footer.computed_checksum()
        header = DynamicHeader.for_xenserver(entries)
        with open(path, 'wb') as handle:
            handle.write(footer.pack() + header.pack())
            handle.truncate(size)
            handle.seek(size - 512)
            handle.write(footer.pack())
        tracemalloc.start()
        started = time.monotonic()
        try:
            report = check(path, now=NOW)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        self.assertError(report, 'block 0 (offset 0x0) clobbers headers')
        self.assertLess(time.monotonic() - started, 10)
        self.assertLess(peak, 64 * base.MiB)


class TestBatmap(CheckerTestCase):

    def test_bit_for_an_unallocated_block(self) -> None:
        self.assertError(
            self.check_edit('mixed.sparse.vhd',
                            lambda d: d.set_batmap_bit(1)),
            'batmap shows unallocated block 1 full')

    def test_checksum_fails_reading_the_batmap(self) -> None:
        # libvhd reads (and validates) the batmap while working out where
        # the metadata ends, so vhd-util reports it there.
        def edit(disk):
            disk.data[BATMAP_HEADER + 24:BATMAP_HEADER + 28] = b'\0\0\0\0'
        report = self.check_edit('mixed.sparse.vhd', edit)
        self.assertError(report, 'error calculating end of metadata: -22')
        self.assertIn('checksum', report.detail)

    def test_cookie(self) -> None:
        def edit(disk):
            disk.data[BATMAP_HEADER:BATMAP_HEADER + 8] = b'xdbatmap'
        self.assertError(self.check_edit('mixed.sparse.vhd', edit),
                         'error calculating end of metadata: -22')

    def test_batmap_header_rules(self) -> None:
        # Only a disk with no blocks gets this far with a misplaced map (a
        # block would clobber the "headers" first), and the map libvhd reads
        # must still match its checksum.
        def move_map(offset: int):
            def edit(disk):
                header = BatmapHeader.parse(bytes(
                    disk.data[BATMAP_HEADER:BATMAP_HEADER + 512]))
                header.batmap_offset = offset
                header.checksum = map_checksum(
                    bytes(disk.data[offset:offset + 512]), header.batmap_version)
                disk.data[BATMAP_HEADER:BATMAP_HEADER + 512] = header.pack()
            return edit
        size = len(base.read_fixture('empty-100m.vhd'))
        self.assertError(
            self.check_edit('empty-100m.vhd', move_map(size - 512)),
            'batmap is invalid: invalid batmap size')
        self.assertError(
            self.check_edit('empty-100m.vhd', move_map(BATMAP + 1)),
            'batmap is invalid: invalid batmap offset')

    def test_no_batmap_is_warned(self) -> None:
        report = self.check_edit(
            'mixed.sparse.vhd',
            lambda d: d.set_footers(creator_application=b'qemu'))
        self.assertTrue(report.valid, report.error)
        self.assertEqual(len(report.warnings), 2)
        self.assertIn("creator is 'qemu'", report.warnings[0])
        self.assertIn('no batmap', report.warnings[1])


class TestBitmaps(CheckerTestCase):

    def edit(self, disk) -> None:
        disk.data[7 * 512] &= ~(0x80 >> 5) & 0xFF  # sector 5 of block 0
        disk.data[8 * 512 + 5 * 512 + 10] = 1

    def test_data_where_the_bitmap_is_clear(self) -> None:
        report = self.check_edit('mixed.sparse.vhd', self.edit,
                                 check_bitmaps=True)
        self.assertError(report, 'sector 0x5 of block 0x0 has data where '
                                 'bitmap is clear')

    def test_only_with_bitmaps(self) -> None:
        report = self.check_edit('mixed.sparse.vhd', self.edit)
        self.assertTrue(report.valid, report.error)

    def test_clear_bits_over_zeros_are_fine(self) -> None:
        def edit(disk):
            disk.data[7 * 512 + 100] = 0  # sectors 800..807, zero in data
        report = self.check_edit('mixed.sparse.vhd', edit,
                                 check_bitmaps=True)
        self.assertTrue(report.valid, report.error)


class TestFiles(CheckerTestCase):

    def test_missing_file(self) -> None:
        with self.assertRaises(VhdError) as caught:
            check(self.path('missing.vhd'))
        self.assertIn('missing.vhd', str(caught.exception))
        self.assertNotIn('\n', str(caught.exception))

    def test_directory(self) -> None:
        report = check(self.tmp)
        self.assertError(report, f'{self.tmp} is not a regular file or block '
                                 'device')
        self.assertEqual(report.exit_code, 22)

    def test_unreadable_file(self) -> None:
        if os.geteuid() == 0:
            self.skipTest('root reads any file')
        path = Disk('mixed.sparse.vhd').save(self.path('secret.vhd'))
        os.chmod(path, 0)
        with self.assertRaises(VhdError):
            check(path)
