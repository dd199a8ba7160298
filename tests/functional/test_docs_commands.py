"""Every command the docs tell a user to run works as written.

The literal blocks of README.rst, the element's README and doc/source
(``tests/functional/doc_blocks.py`` finds them) run in a scratch clone of
the repository, where the files they name exist: ``image.raw`` (a sparse
raw disk with data), ``image.vhd`` converted from it, and
``made-by-qemu.vhd`` from ``qemu-img convert -O vpc``.  Shell blocks run
with bash (``-e -o pipefail``), a console block's ``$`` lines one by one,
Python blocks with this interpreter, doctest blocks as doctests.  The
README's quick start makes its own virtualenv and ``pip install .`` there,
so this needs PyPI, like a user.

Not run here, each for the reason ``NOT_RUN`` gives: the DIB builds (the
DIB test builds that image, and this test holds the docs' environment to
the DIB test's), the test suite itself, the benchmark, a long fuzz run,
and the uploads to an example host.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import tempfile
from typing import Dict, List
import unittest

from tests import base
from tests import bootable
from tests.functional import doc_blocks
from tests.functional import test_dib_build

# Blocks the docs mark as beyond a quick run, by what they contain.
NOT_RUN = {
    r'\bdisk-image-create\b': 'a DIB build, as tests.functional.'
                              'test_dib_build runs it',
    r'tools/run-tests\.sh': 'the test suite itself',
    r'tools/benchmark\.py': 'the benchmark (root, many minutes)',
    r'tools/fuzz\.py|DISKIMAGE_VHD_FUZZ_SECONDS=3600': 'an hour-long fuzz run',
    r'storage\.example|\bssh host\b': 'an upload to an example host',
}
# NAME=value, the value a word or a command substitution.
ASSIGNMENT = re.compile(r'(\w+)=(\$\([^)]*\)|\S+)')
# What a user of the project cannot follow: an issue tracker they do not
# see, the workspace the project was made in.
INTERNAL = re.compile(r'(?i)\bissues? #?\d+|/work/|\.\./shared\b')
RUNNABLE = {'shell', 'console', 'python', 'doctest'}
TIMEOUT = 15 * 60
DOCTEST = '''
import doctest, sys
text = sys.stdin.read()
test = doctest.DocTestParser().get_doctest(text, {}, sys.argv[1],
                                           sys.argv[1], 0)
runner = doctest.DocTestRunner()
runner.run(test)
sys.exit(1 if runner.failures else 0)
'''


def _not_run(block: doc_blocks.Block) -> str:
    for pattern, reason in NOT_RUN.items():
        if re.search(pattern, block.text):
            return reason
    return ''


def _runnable() -> List[doc_blocks.Block]:
    return [block for block in doc_blocks.all_blocks()
            if block.kind in RUNNABLE and not _not_run(block)]


class DocsBlocksTest(unittest.TestCase):
    """What is not run is named, and the DIB lines build the tested image."""

    def test_every_reason_still_applies(self) -> None:
        texts = [block.text for block in doc_blocks.all_blocks()]
        for pattern in NOT_RUN:
            self.assertTrue(any(re.search(pattern, t) for t in texts),
                            f'no doc block matches {pattern}')

    def test_docs_speak_of_the_project_alone(self) -> None:
        # No issue numbers, no paths of the workspace it was made in.
        notes = glob.glob(os.path.join(base.REPO_ROOT,
                                       'releasenotes/notes/*.yaml'))
        for path in [*doc_blocks.DOCS, 'doc/vhd-format.md', *notes]:
            with open(os.path.join(base.REPO_ROOT, path)) as f:
                for number, line in enumerate(f, 1):
                    self.assertNotRegex(line, INTERNAL, f'{path}:{number}')

    def test_quick_start_is_run(self) -> None:
        self.assertIn('README.rst', {block.path for block in _runnable()
                                     if 'pip install .' in block.text})

    def test_dib_lines_match_the_dib_test(self) -> None:
        env = test_dib_build._build_env()
        builds = [block for block in doc_blocks.all_blocks()
                  if 'disk-image-create -' in block.text]
        self.assertGreaterEqual(len(builds), 3)  # README, element, vhd-util
        for block in builds:
            exported: Dict[str, str] = {}
            for line in block.text.splitlines():
                words = line.split()
                if words[:1] == ['export']:
                    exported.update(ASSIGNMENT.findall(line))
                while words and ASSIGNMENT.fullmatch(words[0]):
                    self.assertEqual(words[0], 'DIB_VHD_TARGET=none',
                                     block.where)  # the data-only recipe
                    words = words[1:]
                if words[:1] == ['disk-image-create']:
                    elements = words[-len(test_dib_build.ELEMENTS):]
                    self.assertIn(elements, (test_dib_build.ELEMENTS,
                                             test_dib_build.BOOTABLE_ELEMENTS),
                                  block.where)
            if not exported and 'DIB_VHD_TARGET=none' in block.text:
                continue  # the data-only recipe, after the first one
            self.assertEqual(exported.pop('ELEMENTS_PATH'),
                             '$(diskimage-vhd elements-path)', block.where)
            for name, value in exported.items():
                self.assertEqual(value, env[name], f'{block.where}: {name}')
            self.assertEqual(
                set(exported),
                {'DIB_RELEASE', 'DIB_DEBIAN_SECURITY_MIRROR'}, block.where)


class DocsCommandsTest(unittest.TestCase):
    """Each runnable block, in a scratch clone with the files it names."""

    @classmethod
    def setUpClass(cls) -> None:
        if not os.path.exists(os.path.join(base.REPO_ROOT, '.git')):
            raise unittest.SkipTest('not a git checkout: pip install . '
                                    'needs git for the version')
        cls.tmp = tempfile.mkdtemp(prefix='diskimage-vhd-docs-')
        cls.clone = os.path.join(cls.tmp, 'diskimage-vhd')
        subprocess.run(['git', 'clone', '-q', base.REPO_ROOT, cls.clone],
                       check=True)
        raw = base.make_raw(os.path.join(cls.clone, 'image.raw'),
                            64 * base.MiB,
                            [(5 * base.MiB, base.random_bytes(base.MiB))])
        # GRUB 2 in the MBR: the readiness check finds a boot loader.
        bootable.grub_bios(cls('test_every_quick_block_runs'), raw)
        subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vpc', raw,
                        os.path.join(cls.clone, 'made-by-qemu.vhd')],
                       check=True)
        subprocess.run([os.path.join(os.path.dirname(sys.executable),
                                     'diskimage-vhd'), 'convert', '-q', raw,
                        os.path.join(cls.clone, 'image.vhd')], check=True)

    @classmethod
    def tearDownClass(cls) -> None:
        subprocess.run(['rm', '-rf', cls.tmp])

    def _run(self, block: doc_blocks.Block, args: List[str],
             stdin: str = '') -> None:
        env = dict(os.environ, HOME=self.tmp)
        env['PATH'] = (os.path.dirname(sys.executable) + os.pathsep
                       + env.get('PATH', '/usr/bin:/bin'))
        env.pop('VIRTUAL_ENV', None)
        result = subprocess.run(args, input=stdin, cwd=self.clone, env=env,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT,
                                universal_newlines=True, timeout=TIMEOUT)
        self.assertEqual(result.returncode, 0,
                         f'{block.where}: {block.text}{result.stdout}')

    def test_every_quick_block_runs(self) -> None:
        for block in _runnable():
            with self.subTest(block=block.where):
                if block.kind == 'python':
                    self._run(block, [sys.executable, '-'], block.text)
                elif block.kind == 'doctest':
                    self._run(block, [sys.executable, '-c', DOCTEST,
                                      block.where], block.text)
                else:
                    for command in block.commands():
                        self._run(block, ['bash', '-e', '-o', 'pipefail',
                                          '-c', command])
