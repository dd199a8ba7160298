"""Each structure, declared once, against the format notes and libvhd's files.

The offsets come from ``doc/vhd-format.md``'s tables (not from this
package), and every structure of every golden fixture, made by libvhd,
must parse and pack back to the same bytes with a matching checksum.
"""

from __future__ import annotations

import os
import re
import unittest

from diskimage_vhd.format.batmap import batmap_checksum
from diskimage_vhd.format.batmap import BatmapHeader
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.format.locator import ParentLocator
from tests import base

NOTES = os.path.join(base.REPO_ROOT, 'doc', 'vhd-format.md')


def documented_offsets(heading: str) -> dict:
    """``{field name: offset}`` from the table under ``### heading``."""
    with open(NOTES, encoding='utf-8') as handle:
        text = handle.read()
    section = text.split(f'### {heading}', 1)[1].split('\n#', 1)[0]
    offsets = {}
    for match in re.finditer(r'^\| (\d+) \| [^|]+ \| ([^|]+) \|', section,
                             re.MULTILINE):
        name = re.sub(r'\W+', '_', match.group(2).strip().lower()).strip('_')
        offsets.setdefault(name, int(match.group(1)))
    return offsets


class DeclaredOnceTest(unittest.TestCase):

    def assertOffsets(self, structure, heading: str, size: int) -> None:
        self.assertEqual(structure.SIZE, size)
        documented = documented_offsets(heading)
        matched = {name: documented[name] for name in structure.OFFSETS
                   if name in documented}
        self.assertGreaterEqual(len(matched), 6, documented)
        for name, offset in matched.items():
            with self.subTest(field=name):
                self.assertEqual(structure.OFFSETS[name], offset)

    def test_footer(self) -> None:
        self.assertOffsets(Footer, 'Footer (512 bytes)', 512)
        self.assertEqual(Footer.OFFSETS['checksum'], 64)
        self.assertEqual(Footer.OFFSETS['hidden'], 85)

    def test_dynamic_header(self) -> None:
        self.assertOffsets(DynamicHeader, 'Dynamic header', 1024)
        self.assertEqual(DynamicHeader.OFFSETS['checksum'], 36)
        self.assertEqual(DynamicHeader.OFFSETS['parent_locators'], 576)

    def test_batmap_header(self) -> None:
        self.assertOffsets(BatmapHeader, 'Batmap (Xen extension)', 512)

    def test_parent_locator(self) -> None:
        self.assertEqual(ParentLocator.SIZE * 8, 192)
        self.assertEqual(ParentLocator.OFFSETS['data_offset'], 16)


class FixtureRoundTripTest(unittest.TestCase):
    """libvhd's own structures parse, pack back and check out."""

    def test_every_fixture(self) -> None:
        for name in sorted(base.FIXTURE_UUIDS):
            data = base.read_fixture(name)
            with self.subTest(name):
                footer = Footer.parse(data[-512:])
                self.assertEqual(footer.pack(), data[-512:])
                self.assertEqual(footer.checksum, footer.computed_checksum())
                self.assertTrue(footer.checksum_ok())
                self.assertEqual(footer.uuid, base.FIXTURE_UUIDS[name])
                if not footer.is_dynamic:
                    continue
                header = DynamicHeader.parse(data[512:1536])
                self.assertEqual(header.pack(), data[512:1536])
                self.assertEqual(header.checksum, header.computed_checksum())
                self.assertEqual(
                    [loc.code for loc in header.locators], [0] * 8)
                offset = c.TABLE_OFFSET + -(-header.max_table_entries * 4
                                            // 512) * 512
                batmap = BatmapHeader.parse(data[offset:offset + 512])
                self.assertEqual(batmap.pack(), data[offset:offset + 512])
                self.assertTrue(batmap.valid)
                start = batmap.batmap_offset
                self.assertEqual(batmap_checksum(
                    data[start:start + batmap.batmap_size * 512],
                    footer.current_size), batmap.checksum)
