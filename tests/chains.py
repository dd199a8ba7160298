"""The golden chains of tests/fixtures/chains, unpacked where a test wants
them, and what XenServer reads through them."""

from __future__ import annotations

import hashlib
import lzma
import os

from tests import base

CHAINS_DIR = os.path.join(base.REPO_ROOT, 'tests', 'fixtures', 'chains')


def unpack(name: str, folder: str) -> dict[str, str]:
    """Unpack chain ``name`` (``two``, ``three``, ...) into ``folder``;
    its disks' paths by file name.
    """
    source = os.path.join(CHAINS_DIR, name)
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for packed in sorted(os.listdir(source)):
        disk = packed[:-len('.xz')]
        with lzma.open(os.path.join(source, packed)) as handle:
            data = handle.read()
        paths[disk] = os.path.join(folder, disk)
        with open(paths[disk], 'wb') as handle:
            handle.write(data)
    return paths


def expected(name: str) -> bytes:
    """The chain's data as libvhd reads it (and as its coalesce leaves it)."""
    with lzma.open(os.path.join(CHAINS_DIR, 'expected', f'{name}.raw.xz')) \
            as handle:
        return handle.read()


def expected_sha256(name: str) -> str:
    """The SHA-256 recorded in ``expected/xo.sha256`` for ``name``
    (``xo-mid``, ``xo-leaf``): the data of a chain kept without its
    reading (README.md).
    """
    with open(os.path.join(CHAINS_DIR, 'expected', 'xo.sha256')) as handle:
        sums = {file: digest
                for digest, file in (line.split() for line in handle)}
    return sums[f'{name}.raw']


def sha256_of(path: str) -> str:
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def fingerprints(paths) -> dict[str, tuple[str, int]]:
    """Each file's SHA-256 and modification time: a chain must keep both."""
    found = {}
    for path in paths:
        with open(path, 'rb') as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        found[path] = (digest, os.stat(path).st_mtime_ns)
    return found
