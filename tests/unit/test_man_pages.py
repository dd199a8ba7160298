"""The committed man pages, which pip installs, are those the docs make.

``doc/man`` is built by ``tools/build-man-pages.sh`` from ``doc/source``;
a change to the docs that was not followed by a rebuild fails here.
"""

from __future__ import annotations

import os
import sys
import tempfile
import unittest

from tests import base

MAN_DIR = os.path.join(base.REPO_ROOT, 'doc', 'man')
BUILD = os.path.join(base.REPO_ROOT, 'tools', 'build-man-pages.sh')
PAGES = ['diskimage-vhd.1', 'vhd-util.1']


def _content(path: str) -> list[str]:
    """The page without its roff comments (which name the docutils
    version that wrote it).
    """
    with open(path) as f:
        return [line for line in f if not line.startswith('.\\"')]


class TestManPages(unittest.TestCase):

    def test_committed_pages_match_a_fresh_build(self) -> None:
        with tempfile.TemporaryDirectory() as out:
            env = dict(os.environ)
            env['PATH'] = (os.path.dirname(sys.executable) + os.pathsep
                           + env.get('PATH', ''))
            result = base.run([BUILD, out], env=env)
            self.assertEqual(result.returncode, 0,
                             result.stdout + result.stderr)
            self.assertEqual(sorted(os.listdir(out)), PAGES)
            for page in PAGES:
                with self.subTest(page=page):
                    self.assertEqual(
                        _content(os.path.join(out, page)),
                        _content(os.path.join(MAN_DIR, page)),
                        f'doc/man/{page} is stale: run '
                        'tools/build-man-pages.sh')
