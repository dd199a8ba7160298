"""The read side's facts, each computed once: where a footer is
(format/locate.py), a dynamic disk's layout from its header
(format/layout.py) and its virtual size (format/sizing.py).
"""

from __future__ import annotations

import unittest

from diskimage_vhd.format import constants as c
from diskimage_vhd.format import creators
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.geometry import Geometry
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.format.layout import DynamicLayout
from diskimage_vhd.format.layout import HeaderLayout
from diskimage_vhd.format import locate
from diskimage_vhd.format import sizing
from tests import base

MiB = base.MiB


def reader(data: bytes):
    return lambda length, offset: data[offset:offset + length]


class LocateTest(unittest.TestCase):

    def setUp(self) -> None:
        self.footer = Footer.for_xenserver(c.DISK_TYPE_DYNAMIC, 4 * MiB, 0,
                                           bytes(range(16)))
        self.raw = self.footer.pack()

    def test_the_end_then_the_copy(self) -> None:
        data = self.raw + bytes(1024) + b'junk' * 128
        found = locate.find_footer(len(data), reader(data),
                                   locate.LIBVHD_PLACES)
        self.assertEqual((found.place, found.offset), (locate.COPY, 0))
        self.assertEqual(found.footer, self.footer)
        data = bytes(1024) + self.raw
        found = locate.find_footer(len(data), reader(data),
                                   locate.LIBVHD_PLACES)
        self.assertEqual((found.place, found.offset), (locate.END, 1024))

    def test_a_short_footer_of_511_bytes(self) -> None:
        # Pre-2004 Virtual PC: the last byte of the footer is missing.
        data = bytes(1024) + self.raw[:511]
        self.assertEqual(locate.end_place(len(data)), locate.SHORT)
        self.assertEqual(locate.span(locate.SHORT, len(data)), (1024, 511))
        found = locate.find_footer(len(data), reader(data),
                                   (locate.end_place(len(data)),))
        self.assertEqual(found.raw, self.raw[:511])
        self.assertEqual(found.footer.current_size, 4 * MiB)

    def test_a_file_too_small_for_a_place(self) -> None:
        self.assertIsNone(locate.read_at(locate.END, 100, reader(bytes(100))))
        self.assertIsNone(locate.find_footer(100, reader(bytes(100)),
                                             locate.LIBVHD_PLACES))


class LayoutTest(unittest.TestCase):

    def test_libvhds_layout_read_back_from_its_header(self) -> None:
        for name in ('mixed.sparse.vhd', 'mixed.prealloc.vhd'):
            with self.subTest(fixture=name):
                data = base.read_fixture(name)
                footer = Footer.parse(data[-512:])
                header = DynamicHeader.parse(data[512:1536])
                layout = HeaderLayout.of(footer, header)
                written = DynamicLayout(header.max_table_entries)
                self.assertEqual(layout.batmap_header_offset,
                                 written.batmap_header_offset)
                self.assertEqual(layout.metadata_end(
                    written.batmap_offset + written.batmap_bytes),
                    written.metadata_end)
                self.assertEqual(data[layout.batmap_header_offset:][:8],
                                 c.BATMAP_COOKIE)

    def test_where_a_virtual_byte_lives(self) -> None:
        layout = HeaderLayout(512, 1536, 4, 2 * MiB)
        self.assertEqual(layout.where(2 * MiB + 5), (1, 5))
        self.assertEqual(layout.bitmap_bytes, 512)
        self.assertEqual(layout.data_offset(7, 5), 7 * 512 + 512 + 5)
        # A bitmap is a whole sector even for a block of one sector.
        self.assertEqual(HeaderLayout(512, 1536, 4, 512).bitmap_bytes, 512)

    def test_has_a_batmap(self) -> None:
        tap = creators.CREATOR_TAP
        self.assertTrue(creators.batmap_expected(tap, creators.TAP_1_2))
        self.assertIsNone(creators.batmap_expected(tap, creators.TAP_1_1))
        self.assertFalse(creators.batmap_expected(tap, creators.TAP_0_1))
        self.assertFalse(creators.batmap_expected(b'qem2', creators.TAP_1_3))


class SizingTest(unittest.TestCase):

    def footer(self, creator: bytes, current: int,
               geometry: Geometry) -> Footer:
        return Footer.for_xenserver(c.DISK_TYPE_DYNAMIC, current, 0,
                                    bytes(16)).replace(
            creator_application=creator, cylinders=geometry.cylinders,
            heads=geometry.heads, sectors_per_track=geometry.sectors_per_track)

    def test_the_current_size_unless_virtual_pc_or_old_qemu(self) -> None:
        short = Geometry(240, 4, 17)  # 8355840 bytes
        for creator in (b'dutl', b'vbox', b'bxic', b'xo  ', b'wa\0\0',
                        b'win ', b'qem2', b'tap\0'):
            with self.subTest(creator=creator):
                footer = self.footer(creator, 8 * MiB + 1536, short)
                self.assertEqual(sizing.virtual_size(
                    footer, sizing.AUTO, lambda offset: False),
                    8 * MiB + 1536)
        for creator in (b'vpc ', b'qemu'):
            with self.subTest(creator=creator):
                footer = self.footer(creator, 8 * MiB + 1536, short)
                self.assertEqual(sizing.virtual_size(
                    footer, sizing.AUTO, lambda offset: False), 8355840)
                self.assertEqual(sizing.virtual_size(
                    footer, sizing.AUTO, lambda offset: True), 8 * MiB + 1536)

    def test_the_largest_geometry_means_a_bigger_disk(self) -> None:
        footer = self.footer(b'vpc ', 200 * 1024 ** 3,
                             Geometry(65535, 16, 255))
        self.assertEqual(sizing.virtual_size(footer, sizing.AUTO,
                                             lambda offset: False),
                         200 * 1024 ** 3)

    def test_either_rule_forced(self) -> None:
        footer = self.footer(b'dutl', 8 * MiB + 1536, Geometry(240, 4, 17))
        self.assertEqual(sizing.virtual_size(footer, sizing.GEOMETRY,
                                             lambda offset: True), 8355840)
        footer = self.footer(b'vpc ', 8 * MiB + 1536, Geometry(240, 4, 17))
        self.assertEqual(sizing.virtual_size(footer, sizing.CURRENT_SIZE,
                                             lambda offset: False),
                         8 * MiB + 1536)
