"""What the tests share: where the golden fixtures are, and real referees."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest
import uuid
from typing import Iterable, List, Sequence, Tuple

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES_DIR = os.environ.get(
    'DISKIMAGE_VHD_FIXTURES',
    os.path.join(REPO_ROOT, 'tests', 'fixtures', 'libvhd'))

# Every fixture footer was stamped with this (seconds since 2000-01-01).
FIXTURE_VHD_TIMESTAMP = 848956625
FIXTURE_UNIX_TIMESTAMP = FIXTURE_VHD_TIMESTAMP + 946684800
FIXTURE_UUIDS = {
    'empty-100m-S2048.vhd': uuid.UUID('b13158d5-f778-4393-ac78-a9d6ba26400b'),
    'empty-100m.vhd': uuid.UUID('7ef859c3-4298-40a4-b2a0-d98d9bb555f6'),
    'mixed.fixed.vhd': uuid.UUID('de100fdb-089e-4af1-9e61-c356802332e6'),
    'mixed.full.vhd': uuid.UUID('85efb35e-8df3-4091-b627-2a9b14d6bb4c'),
    'mixed.prealloc.vhd': uuid.UUID('3f31f633-aecd-4f2c-9d39-4775fbca84e4'),
    'mixed.sparse.vhd': uuid.UUID('c87c3c0c-bca9-4d11-8aec-392b3f9de6e8'),
}

MiB = 1024 * 1024
BLOCK = 2 * MiB


def fixture(name: str) -> str:
    """The path of a golden fixture; a clear failure if they are missing."""
    path = os.path.join(FIXTURES_DIR, name)
    if not os.path.exists(path):
        raise AssertionError(f'golden fixture {path} not found: the fixtures '
                             'live in tests/fixtures/libvhd; '
                             'set DISKIMAGE_VHD_FIXTURES to point elsewhere')
    return path


def read_fixture(name: str) -> bytes:
    with open(fixture(name), 'rb') as handle:
        return handle.read()


class TempDirTestCase(unittest.TestCase):
    """A test with its own scratch directory, removed afterwards."""

    def setUp(self) -> None:
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix='diskimage-vhd-test-')
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def path(self, name: str) -> str:
        return os.path.join(self.tmp, name)

    def assertOneLine(self, result: subprocess.CompletedProcess,
                      *fragments: str) -> None:
        """Refused as bad input must be: non-zero, one line on stderr
        holding ``fragments``, no traceback.
        """
        self.assertNotEqual(result.returncode, 0, result.stdout)
        self.assertNotIn('Traceback', result.stderr)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        for fragment in fragments:
            self.assertIn(fragment, lines[0])


def make_raw(path: str, size: int,
             writes: Iterable[Tuple[int, bytes]] = ()) -> str:
    """A sparse raw image of ``size`` bytes with ``writes`` (offset, data)."""
    with open(path, 'wb') as handle:
        handle.truncate(size)
        for offset, data in writes:
            handle.seek(offset)
            handle.write(data)
    return path


def random_bytes(length: int, seed: int = 0) -> bytes:
    """Deterministic incompressible bytes, so a failing case can be rerun."""
    return random.Random(seed).randbytes(length)


def run(args: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command, capturing text output; never raises on exit status."""
    return subprocess.run(list(args), capture_output=True, text=True,
                          **kwargs)


def module_argv(module: str) -> List[str]:
    """The argv that runs one of the package's commands here."""
    return [sys.executable, '-m', module]


def run_module(module: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run one of the package's commands through this interpreter."""
    return run([*module_argv(module), *args], **kwargs)


def require_qemu_img(test: unittest.TestCase) -> str:
    """qemu-img is a referee the suite cannot do without: fail, not skip."""
    path = shutil.which('qemu-img')
    if path is None:
        test.fail('qemu-img is not installed (apt-get install qemu-utils)')
    return path


def qemu_compare(test: unittest.TestCase, raw: str, image: str,
                 image_format: str = 'vpc') -> List[str]:
    """Assert ``qemu-img compare`` finds ``image`` identical to ``raw``."""
    require_qemu_img(test)
    result = run(['qemu-img', 'compare', '-f', 'raw', '-F', image_format,
                  raw, image])
    test.assertEqual(result.returncode, 0, result.stdout + result.stderr)
    test.assertIn('Images are identical.', result.stdout)
    return result.stdout.splitlines()
