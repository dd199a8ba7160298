"""Timestamps and UUIDs: now and random by default, reproducible on demand."""

from __future__ import annotations

import os
import time
import unittest

from diskimage_vhd import convert
from diskimage_vhd.errors import UsageError
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
