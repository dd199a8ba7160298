"""Differencing disks: parents are found as libvhd finds them, but safely.

A locator can name any path; as root, on a file anyone may have made, the
checker must open nothing but a regular file or a block device, and a disk
that names itself as its parent is not valid.
"""

from __future__ import annotations

import errno
import os
import sys
import threading
from typing import List

from diskimage_vhd import check
from diskimage_vhd import convert
from diskimage_vhd.errors import InvalidVhdError
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.vhdutil.create import create
from diskimage_vhd.vhdutil import query
from diskimage_vhd.xen.check import check as vhd_util_check
from diskimage_vhd.xen import libvhd
from tests import base
from tests.differencing import make_child

EPOCH = base.FIXTURE_UNIX_TIMESTAMP

_OPENED: List[str] = []
_WATCHING = threading.local()


def _audit(event: str, args: tuple) -> None:
    """Record every path this process opens while a test watches."""
    if event == 'open' and getattr(_WATCHING, 'on', False):
        _OPENED.append(os.fspath(args[0]) if not isinstance(args[0], int)
                       else str(args[0]))


sys.addaudithook(_audit)


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
            return vhd_util_check(path)
        finally:
            _WATCHING.on = False

    def test_a_real_parent_is_valid(self) -> None:
        child = make_child(self.path('child.vhd'), 'parent.vhd',
                           './parent.vhd', self.parent_uuid)
        report = self.watched_check(child)
        self.assertTrue(report.valid, report.error)
        self.assertIn(self.parent, _OPENED)

    def test_check_and_convert_agree_a_chain_is_read(self) -> None:
        """vhd-util check calls the chain valid; this package reads it
        through its parent, so its check and convert agree.
        """
        child = make_child(self.path('child.vhd'), 'parent.vhd',
                           './parent.vhd', self.parent_uuid)
        report = check(child)
        self.assertIsNone(report.error)
        convert(child, self.path('out.vhd'))
        os.unlink(self.parent)
        self.assertEqual(check(child).problem.code, 'parent-unresolved')
        with self.assertRaises(InvalidVhdError) as refused:
            convert(child, self.path('out2.vhd'))
        self.assertEqual(refused.exception.kind, 'parent-missing')

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


class ChainTest(base.TempDirTestCase):
    """``vhd-util query -d`` walks the chain of parents: a cycle of disks
    (A -> B -> A) is an error (ELOOP) found when a disk comes round again,
    not after 1024 opens, whatever path names it.
    """

    def setUp(self) -> None:
        super().setUp()
        self.base = self.path('base.vhd')
        create(self.base, 10, 0, False, timestamp=str(EPOCH))
        with open(self.base, 'rb') as handle:
            self.base_uuid = Footer.parse(handle.read(512)).unique_id

    def depth(self, path: str):
        return base.run_module('diskimage_vhd.vhdutil', 'query', '-n', path,
                               '-d')

    def walk(self, path: str) -> List[str]:
        """Walk ``path``'s chain in this process; the files it opened."""
        _OPENED.clear()
        _WATCHING.on = True
        try:
            with libvhd.open_vhd(path) as vhd:
                with self.assertRaises(libvhd.LibvhdError) as caught:
                    query.chain_depth(vhd)
        finally:
            _WATCHING.on = False
        self.assertEqual(caught.exception.errno, errno.ELOOP)
        return [name for name in _OPENED if name.endswith('.vhd')]

    def test_an_honest_chain(self) -> None:
        middle = make_child(self.path('middle.vhd'), 'base.vhd',
                            './base.vhd', self.base_uuid)
        with open(middle, 'rb') as handle:
            middle_uuid = Footer.parse(handle.read(512)).unique_id
        top = make_child(self.path('top.vhd'), 'middle.vhd', middle,
                         middle_uuid)
        result = self.depth(top)
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertEqual(result.stdout, 'chain depth: 3\n')
        self.assertTrue(vhd_util_check(top).valid)

    def test_a_cycle_of_two(self) -> None:
        first, second = self.path('a.vhd'), self.path('b.vhd')
        make_child(first, 'b.vhd', './b.vhd', self.base_uuid)
        make_child(second, 'a.vhd', './a.vhd', self.base_uuid)
        for path in (first, second):
            with self.subTest(path=path):
                result = self.depth(path)
                self.assertEqual(result.returncode, 40, result.stdout)
                self.assertEqual(result.stdout,
                                 'error checking chain depth: -40\n')
                # Each disk once, then the first again: not 1024 opens.
                self.assertEqual(len(self.walk(path)), 3)

    def test_a_cycle_through_another_name(self) -> None:
        """A link to the disk is the same disk: the walk ends when it comes
        back, not when a path repeats.
        """
        first, second = self.path('a.vhd'), self.path('b.vhd')
        make_child(first, 'b.vhd', './b.vhd', self.base_uuid)
        os.link(first, self.path('alias.vhd'))
        make_child(second, 'alias.vhd', './alias.vhd', self.base_uuid)
        result = self.depth(first)
        self.assertEqual(result.returncode, 40, result.stdout)
        self.assertEqual(result.stdout, 'error checking chain depth: -40\n')
        self.assertEqual([os.path.basename(name) for name in self.walk(first)],
                         ['a.vhd', 'b.vhd', 'alias.vhd'])
