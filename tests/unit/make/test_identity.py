"""Timestamps and UUIDs: now and random by default, reproducible on demand."""

from __future__ import annotations

import os
import time
import unittest
from unittest import mock
import uuid

from diskimage_vhd import convert
from diskimage_vhd.errors import UsageError
from diskimage_vhd.format import constants as c
from diskimage_vhd.image.reader import VhdImage
from diskimage_vhd.make import identity
from tests import base


class TestTimestamps(unittest.TestCase):

    def test_formats(self) -> None:
        unix = base.FIXTURE_UNIX_TIMESTAMP
        for text in (str(unix), '2026-11-25T21:17:05Z', '2026-11-25T21:17:05',
                     '2026-11-25T22:17:05+01:00'):
            with self.subTest(text):
                self.assertEqual(identity.resolve_timestamp(text, environ={}),
                                 unix)

    def test_precedence(self) -> None:
        env = {'SOURCE_DATE_EPOCH': '1000000000'}
        self.assertEqual(identity.resolve_timestamp(None, env), 1000000000)
        self.assertEqual(identity.resolve_timestamp('1100000000', env),
                         1100000000)
        now = identity.resolve_timestamp(None, {})
        self.assertLessEqual(abs(now - time.time()), 2)

    def test_future_and_pre_2000_refused(self) -> None:
        with self.assertRaisesRegex(UsageError, 'in the future'):
            identity.resolve_timestamp(int(time.time()) + 3600, {})
        with self.assertRaisesRegex(UsageError, '2000-01-01'):
            identity.resolve_timestamp('1999-12-31T23:59:59Z', {})


class TestRandomUniqueId(unittest.TestCase):
    """``random_unique_id`` is what ``uuid.uuid4()`` makes, by uuid's own
    reading: version 4, the RFC 4122 variant, every other bit random.
    """

    def test_version_variant_and_random_bits(self) -> None:
        samples = [uuid.UUID(bytes=identity.random_unique_id())
                   for _ in range(2000)]
        for value in samples:
            self.assertEqual(value.version, 4)
            self.assertEqual(value.variant, uuid.RFC_4122)
        every = (1 << 128) - 1
        # The bits uuid.UUID(version=4) sets: version (4) and variant (2).
        fixed = (0xf000 << 64) | (0xc000 << 48)
        seen_one = seen_zero = 0
        for value in samples:
            seen_one |= value.int
            seen_zero |= ~value.int & every
        self.assertEqual(seen_one & seen_zero, every & ~fixed)


class TestReproducibleOutput(base.TempDirTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.raw = base.make_raw(self.path('in.raw'), 5 * base.MiB,
                                 [(123, b'content'), (4 * base.MiB, b'more')])
        os.environ['SOURCE_DATE_EPOCH'] = '1700000000'
        self.addCleanup(os.environ.pop, 'SOURCE_DATE_EPOCH')

    def convert_bytes(self, name: str, source: str = '', **options) -> bytes:
        out = self.path(name)
        convert(source or self.raw, out, **options)
        with open(out, 'rb') as handle:
            return handle.read()

    def test_same_input_same_bytes(self) -> None:
        first = self.convert_bytes('a.vhd')
        self.assertEqual(first, self.convert_bytes('b.vhd'))
        with VhdImage(self.path('a.vhd')) as image:
            self.assertEqual(image.footer.timestamp, 1700000000 - 946684800)
            self.assertEqual(image.footer.uuid.version, 5)

    def test_uuid_follows_content(self) -> None:
        other = base.make_raw(self.path('other.raw'), 5 * base.MiB,
                              [(123, b'CONTENT')])
        first = self.convert_bytes('a.vhd')
        second = self.convert_bytes('b.vhd', other)
        self.assertNotEqual(first[68:84], second[68:84])

    def test_uuid_option_wins(self) -> None:
        chosen = base.FIXTURE_UUIDS['mixed.sparse.vhd']
        data = self.convert_bytes('a.vhd', unique_id=chosen)
        self.assertEqual(data[68:84], chosen.bytes)
        self.assertEqual(data[-512:], data[:512])

    def test_random_without_source_date_epoch(self) -> None:
        del os.environ['SOURCE_DATE_EPOCH']
        self.addCleanup(os.environ.__setitem__, 'SOURCE_DATE_EPOCH', '0')
        first = self.convert_bytes('a.vhd')
        second = self.convert_bytes('b.vhd')
        self.assertNotEqual(first[68:84], second[68:84])
        with VhdImage(self.path('a.vhd')) as image:
            self.assertEqual(image.footer.uuid.version, 4)


class TestIdentityFollowsContent(base.TempDirTestCase):
    """One content digest names the disk, whatever writes it (issue 8)."""

    EPOCH = '1700000000'

    def setUp(self) -> None:
        super().setUp()
        self.env = dict(os.environ, SOURCE_DATE_EPOCH=self.EPOCH)

    def raw(self, name: str, writes: list, size: int = 6 * base.MiB) -> str:
        return base.make_raw(self.path(name), size, writes)

    def api(self, source: str, name: str, **options) -> bytes:
        out = self.path(name)
        with mock.patch.dict(os.environ, {'SOURCE_DATE_EPOCH': self.EPOCH}):
            convert(source, out, **options)
        with open(out, 'rb') as handle:
            return handle.read()

    def vhd_util(self, *args: str) -> None:
        result = base.run_module('diskimage_vhd.vhdutil', *args,
                                 cwd=self.tmp, env=self.env)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_fixed_outputs_differ_with_content(self) -> None:
        one = self.raw('one.raw', [(4096, b'one')])
        two = self.raw('two.raw', [(4096, b'two')])
        first = self.api(one, 'one.vhd', target_format='fixed')
        second = self.api(two, 'two.vhd', target_format='fixed')
        self.assertNotEqual(first[-512:][68:84], second[-512:][68:84])
        self.assertEqual(first, self.api(one, 'again.vhd',
                                         target_format='fixed'))

    def test_vhd_util_raw_to_fixed_follows_content(self) -> None:
        """``vhd-util convert -s 0 -t 1`` derived its UUID from the size only;
        now it stamps exactly the footer ``convert --to fixed`` does.
        """
        footers = []
        for name, text in (('a', b'alpha'), ('b', b'bravo')):
            raw = self.raw(name + '.raw', [(BLOCK_AND_A_BIT, text)])
            expected = self.api(raw, name + '.api.vhd', target_format='fixed')
            self.vhd_util('convert', '-i', name + '.raw', '-o',
                          name + '.vhd', '-s', '0', '-t', '1')
            with open(self.path(name + '.vhd'), 'rb') as handle:
                produced = handle.read()
            self.assertEqual(produced, expected)
            footers.append(produced[-512:])
        self.assertNotEqual(footers[0][68:84], footers[1][68:84])

    def test_vhd_util_create_is_the_empty_disk_of_that_size(self) -> None:
        """``vhd-util create`` (and ``-r``) derived their UUIDs from their
        parameters; now an empty disk is named by its size, as converting
        zeros of that size names it.
        """
        zeros = self.raw('zeros.raw', [], size=4 * base.MiB)
        self.vhd_util('create', '-n', 'd.vhd', '-s', '4')
        self.vhd_util('create', '-n', 'f.vhd', '-s', '4', '-r')
        for name, options in (('d.vhd', {}),
                              ('f.vhd', {'target_format': 'fixed'})):
            with self.subTest(name), open(self.path(name), 'rb') as handle:
                self.assertEqual(handle.read(),
                                 self.api(zeros, 'api-' + name, **options))

    def test_same_content_in_any_format_same_dynamic_disk(self) -> None:
        raw = self.raw('in.raw', [(0, base.random_bytes(5000, 1)),
                                  (5 * base.MiB, b'end')])
        direct = self.api(raw, 'direct.vhd')
        fixed = self.path('in.fixed.vhd')
        self.api(raw, 'in.fixed.vhd', target_format='fixed')
        self.assertEqual(self.api(fixed, 'via-fixed.vhd'), direct)
        full = self.api(raw, 'full.vhd', allocate_all=True)
        self.assertEqual(full[68:84], direct[68:84])
        other = self.api(self.raw('other.raw', [(0, b'x')]), 'other.vhd')
        self.assertNotEqual(other[68:84], direct[68:84])
        self.assertNotEqual(self.api(raw, 'as-fixed.vhd',
                                     target_format='fixed')[-512:][68:84],
                            direct[68:84])


BLOCK_AND_A_BIT = base.BLOCK + 12345


class TestNonzeroPages(unittest.TestCase):
    """Which pages of a block the digest hashes, from bytes alone."""

    def block(self) -> memoryview:
        return memoryview(bytearray(b'\xee' * c.BLOCK_SIZE))  # stale bytes

    def test_bytes_outside_the_data_are_zeros(self) -> None:
        view = self.block()
        view[5000:5001] = b'\x01'
        view[8192:16384] = bytes(8192)
        # Page 0 holds only stale bytes; page 1 has one non-zero data byte
        # and stale bytes around it; pages 2-3 are data that is zero.
        runs = identity.nonzero_pages(view, [(5000, 5001), (8192, 16384)])
        self.assertEqual([(1, 2)], runs)
        self.assertEqual(bytes(8192 - 5001), bytes(view[5001:8192]))

    def test_zero_pages_inside_data_break_runs(self) -> None:
        view = self.block()
        view[:] = bytes(c.BLOCK_SIZE)
        for page in (0, 1, 3, 511):
            view[page * 4096 + 7:page * 4096 + 8] = b'\x02'
        runs = identity.nonzero_pages(view, [(0, c.BLOCK_SIZE)])
        self.assertEqual([(0, 2), (3, 4), (511, 512)], runs)

    def test_unaligned_ranges_share_a_page(self) -> None:
        view = self.block()
        view[100:200] = bytes(100)
        view[300:400] = b'\x03' * 100
        runs = identity.nonzero_pages(view, [(100, 200), (300, 400)])
        self.assertEqual([(0, 1)], runs)
        self.assertEqual(bytes(100), bytes(view[200:300]))

    def test_no_data_no_pages(self) -> None:
        self.assertEqual([], identity.nonzero_pages(self.block(), []))
