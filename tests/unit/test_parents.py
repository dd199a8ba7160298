"""Differencing disks: parents are found as libvhd finds them, but safely.

A locator can name any path; as root, on a file anyone may have made, the
checker must open nothing but a regular file or a block device, and a disk
that names itself as its parent is not valid.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
from typing import List

from diskimage_vhd import check
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.format.locator import ParentLocator, PlatformCode
from diskimage_vhd.vhdutil.create import create
from tests import base

EPOCH = base.FIXTURE_UNIX_TIMESTAMP

_OPENED: List[str] = []
_WATCHING = threading.local()


def _audit(event: str, args: tuple) -> None:
    """Record every path this process opens while a test watches."""
    if event == 'open' and getattr(_WATCHING, 'on', False):
        _OPENED.append(os.fspath(args[0]) if not isinstance(args[0], int)
                       else str(args[0]))


sys.addaudithook(_audit)


def make_child(path: str, parent_name: str, locator_path: str,
               parent_uuid: bytes) -> str:
    """A differencing disk whose one MACX locator says ``locator_path``."""
    create(path, 10, 0, False, timestamp=str(EPOCH))
    with open(path, 'rb') as handle:
        data = bytearray(handle.read())
    footer = Footer.parse(bytes(data[-512:]))
    place = len(data) - 512  # the locator's data goes where the footer was
    text = f'file://{locator_path}'.encode('ascii')
    locator = ParentLocator(code=PlatformCode.MACX, data_space=1,
                            data_length=len(text), reserved=0,
                            data_offset=place)
    header = DynamicHeader.parse(bytes(data[512:1536]))
    header = dataclasses.replace(
        header, parent_unique_id=parent_uuid,
        parent_unicode_name=parent_name.encode('utf-16-be').ljust(512, b'\0'),
        parent_locators=locator.pack().ljust(192, b'\0'))
    header.checksum = header.computed_checksum()
    footer = dataclasses.replace(footer, disk_type=c.DISK_TYPE_DIFFERENCING)
    footer.checksum = footer.computed_checksum()
    data[512:1536] = header.pack()
    data[0:512] = footer.pack()
    data[place:] = text.ljust(512, b'\0') + footer.pack()
    with open(path, 'wb') as handle:
        handle.write(data)
    return path


class ParentTest(base.TempDirTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.parent = self.path('parent.vhd')
        create(self.parent, 10, 0, False, timestamp=str(EPOCH))
        with open(self.parent, 'rb') as handle:
            self.parent_uuid = Footer.parse(handle.read(512)).unique_id

    def watched_check(self, path: str):
        _OPENED.clear()
        _WATCHING.on = True
        try:
            return check(path)
        finally:
            _WATCHING.on = False

    def test_a_real_parent_is_valid(self) -> None:
        child = make_child(self.path('child.vhd'), 'parent.vhd',
                           './parent.vhd', self.parent_uuid)
        report = self.watched_check(child)
        self.assertTrue(report.valid, report.error)
        self.assertIn(self.parent, _OPENED)

    def test_a_fifo_named_as_parent_is_never_opened(self) -> None:
        fifo = self.path('pipe')
        os.mkfifo(fifo)
        child = make_child(self.path('child.vhd'), 'pipe', fifo,
                           self.parent_uuid)
        report = self.watched_check(child)
        self.assertEqual(report.error, f'error resolving {fifo}: -2')
        self.assertNotIn(fifo, _OPENED)
        self.assertIn(child, _OPENED)  # the watch itself works

    def test_a_character_device_is_never_opened(self) -> None:
        child = make_child(self.path('child.vhd'), 'ptmx', '/dev/ptmx',
                           self.parent_uuid)
        report = self.watched_check(child)
        self.assertFalse(report.valid)
        self.assertNotIn('/dev/ptmx', _OPENED)

    def test_a_disk_that_is_its_own_parent_is_invalid(self) -> None:
        child = self.path('child.vhd')
        make_child(child, 'child.vhd', './child.vhd', self.parent_uuid)
        report = self.watched_check(child)
        self.assertEqual(report.error, 'error resolving ./child.vhd: -40')
        result = base.run_module('diskimage_vhd.vhdutil', 'check', '-n', child)
        self.assertEqual(result.returncode, 40, result.stdout)  # ELOOP
