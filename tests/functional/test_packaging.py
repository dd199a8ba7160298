"""The sdist and the wheel, built from a clone, install and work.

pbr takes the version and the file list from git (or, in an sdist, from
PKG-INFO), so this builds from a git clone of HEAD, as a release would
(uncommitted changes are not in it): ``python -m build`` makes the sdist
and then the wheel from that sdist.  Each is installed into a fresh
virtualenv with its requirements from PyPI (diskimage-builder among them;
pip's cache keeps reruns short), and the installed commands are run from
outside the source tree: ``--version``, a conversion judged by
``qemu-img compare``, ``check``, and ``elements-path`` with the element's
hooks present and executable; the man pages are in ``share/man/man1``.
Needs git and PyPI; takes a minute or two.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import tempfile
from typing import List
import unittest

from tests import base

HOOKS = ('root.d/01-xenserver-vhd-check-vhd-util',
         'finalise.d/60-xenserver-vhd-pv-drivers')
VERSION = re.compile(r'^\d+\.\d+\.\d+(\.dev\d+)?$')
# A fresh virtualenv (argv[1]) with an artefact (argv[2]) and its
# requirements installed from PyPI.
INSTALL = '''
import subprocess, sys, venv
venv.create(sys.argv[1], with_pip=True)
subprocess.run([sys.argv[1] + '/bin/pip', 'install', '-q',
                '--disable-pip-version-check', sys.argv[2]], check=True)
'''


def _run(args: List[str], **kwargs) -> subprocess.CompletedProcess:
    result = base.run(args, **kwargs)
    if result.returncode != 0:
        raise AssertionError(f'{" ".join(args)} failed '
                             f'({result.returncode}):\n{result.stdout}'
                             f'{result.stderr}')
    return result


class PackagingTest(unittest.TestCase):
    """Build once for the class; each test installs one artefact."""

    @classmethod
    def setUpClass(cls) -> None:
        if not os.path.exists(os.path.join(base.REPO_ROOT, '.git')):
            raise unittest.SkipTest('not a git checkout: pbr needs git')
        cls.tmp = tempfile.mkdtemp(prefix='diskimage-vhd-packaging-')
        head = _run(['git', '-C', base.REPO_ROOT, 'rev-parse', 'HEAD'])
        cls.source = os.path.join(cls.tmp, 'source')
        _run(['git', 'clone', '-q', '--no-checkout', base.REPO_ROOT,
              cls.source])
        _run(['git', '-C', cls.source, 'checkout', '-q',
              head.stdout.strip()])
        cls.dist = os.path.join(cls.tmp, 'dist')
        _run([sys.executable, '-m', 'build', '--outdir', cls.dist,
              cls.source])
        wheels = glob.glob(os.path.join(cls.dist, '*.whl'))
        sdists = glob.glob(os.path.join(cls.dist, '*.tar.gz'))
        assert len(wheels) == 1 and len(sdists) == 1, os.listdir(cls.dist)
        cls.wheel, cls.sdist = wheels[0], sdists[0]
        # diskimage_vhd-0.0.1.dev73-py3-none-any.whl
        cls.version = os.path.basename(cls.wheel).split('-')[1]
        # Both installs at once: most of their time is waiting on PyPI.
        cls.bins = {}
        running = []
        for name, artefact in (('wheel', cls.wheel), ('sdist', cls.sdist)):
            venv = os.path.join(cls.tmp, 'venv-' + name)
            cls.bins[name] = os.path.join(venv, 'bin')
            running.append((name, subprocess.Popen(
                [sys.executable, '-c', INSTALL, venv, artefact],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                universal_newlines=True)))
        cls.install_errors = {}
        for name, process in running:
            output = process.communicate()[0]
            if process.returncode != 0:
                cls.install_errors[name] = output

    @classmethod
    def tearDownClass(cls) -> None:
        subprocess.run(['rm', '-rf', cls.tmp])

    def installed(self, name: str) -> str:
        """The bin dir of the fresh virtualenv that ``name`` went into."""
        self.assertNotIn(name, self.install_errors,
                         self.install_errors.get(name))
        return self.bins[name]

    def command(self, bin_dir: str, *args: str) -> subprocess.CompletedProcess:
        """Run a command found on the PATH of an activated venv, outside
        the source tree: the one found is the one a user gets.
        """
        env = {'PATH': bin_dir + os.pathsep + '/usr/bin:/bin',
               'HOME': self.tmp}
        return _run(list(args), env=env, cwd=self.tmp)

    def check_installed(self, bin_dir: str) -> None:
        self.assertRegex(self.version, VERSION)
        self.assertEqual(self.command(bin_dir, 'diskimage-vhd',
                                      '--version').stdout,
                         f'diskimage-vhd {self.version}\n')
        self.assertEqual(self.command(bin_dir, 'vhd-util',
                                      '--version').stdout,
                         f'vhd-util (diskimage-vhd) {self.version}\n')
        # The console scripts are the entry points that end the process
        # cheaply (tests/unit/cli/test_run.py), not the API's ``main``.
        for name, module in (('diskimage-vhd', 'diskimage_vhd.cli.commands'),
                             ('vhd-util', 'diskimage_vhd.vhdutil.cli')):
            with open(os.path.join(bin_dir, name)) as script:
                self.assertIn(f'from {module} import script', script.read())
        # diskimage-builder came with it, and ships no vhd-util of its own:
        # the one on the venv's PATH is this package's.
        self.assertTrue(os.access(os.path.join(bin_dir, 'disk-image-create'),
                                  os.X_OK))
        dib_files = self.command(
            bin_dir, 'python', '-c',
            'import importlib.metadata as m; '
            'print("\\n".join(str(f) for f in m.files("diskimage-builder")))'
        ).stdout.splitlines()
        self.assertIn('../../../bin/disk-image-create', dib_files)
        self.assertEqual([f for f in dib_files if 'vhd-util' in f], [])

        raw = base.make_raw(os.path.join(self.tmp, 'in.raw'), 16 * base.MiB,
                            [(5 * base.MiB, base.random_bytes(base.MiB))])
        vhd = os.path.join(os.path.dirname(bin_dir), 'out.vhd')
        self.command(bin_dir, 'diskimage-vhd', 'convert', '-q', raw, vhd)
        self.assertEqual(self.command(bin_dir, 'diskimage-vhd', 'check',
                                      vhd).stdout, f'{vhd} is valid\n')
        base.qemu_compare(self, raw, vhd)

        elements = self.command(bin_dir, 'diskimage-vhd',
                                'elements-path').stdout.strip()
        self.assertTrue(elements.startswith(os.path.dirname(bin_dir)),
                        elements)
        for hook in HOOKS:
            path = os.path.join(elements, 'xenserver-vhd', hook)
            self.assertTrue(os.access(path, os.X_OK), path)
        self.assertTrue(os.path.isfile(os.path.join(
            elements, 'xenserver-vhd', 'README.rst')))
        # The man pages, where man finds them for this prefix.
        man1 = os.path.join(os.path.dirname(bin_dir), 'share', 'man', 'man1')
        for page in ('diskimage-vhd.1', 'vhd-util.1'):
            with open(os.path.join(man1, page)) as installed, \
                    open(os.path.join(base.REPO_ROOT, 'doc', 'man',
                                      page)) as committed:
                self.assertEqual(installed.read(), committed.read(), page)

    def test_wheel(self) -> None:
        self.check_installed(self.installed('wheel'))

    def test_sdist(self) -> None:
        self.check_installed(self.installed('sdist'))
