"""The writer reproduces libvhd's own files byte for byte."""

from __future__ import annotations

from diskimage_vhd import convert
from tests import base


class TestFixtureReproduction(base.TempDirTestCase):
    """Given the fixtures' timestamp and UUID, the output is identical."""

    def convert_mixed(self, name: str, **options) -> bytes:
        out = self.path(name)
        convert(base.fixture('mixed.raw'), out,
                timestamp=base.FIXTURE_UNIX_TIMESTAMP,
                unique_id=base.FIXTURE_UUIDS[name], **options)
        with open(out, 'rb') as handle:
            return handle.read()

    def assertSameBytes(self, produced: bytes, name: str) -> None:
        expected = base.read_fixture(name)
        self.assertEqual(len(produced), len(expected))
        for offset in range(0, len(expected), 512):
            if produced[offset:offset + 512] != expected[offset:offset + 512]:
                self.fail(f'{name}: first difference in sector {offset // 512}')

    def test_sparse(self) -> None:
        self.assertSameBytes(self.convert_mixed('mixed.sparse.vhd'),
                             'mixed.sparse.vhd')

    def test_allocate_all(self) -> None:
        self.assertSameBytes(
            self.convert_mixed('mixed.full.vhd', allocate_all=True),
            'mixed.full.vhd')

    def test_metadata_preallocation(self) -> None:
        self.assertSameBytes(
            self.convert_mixed('mixed.prealloc.vhd', max_size=2048 * base.MiB),
            'mixed.prealloc.vhd')

    def test_fixed(self) -> None:
        self.assertSameBytes(
            self.convert_mixed('mixed.fixed.vhd', target_format='fixed'),
            'mixed.fixed.vhd')

    def test_command_line_reproduces_sparse(self) -> None:
        out = self.path('cli.vhd')
        result = base.run_module(
            'diskimage_vhd', 'convert', '--quiet',
            '--timestamp', '2026-11-25T21:17:05Z',
            '--uuid', str(base.FIXTURE_UUIDS['mixed.sparse.vhd']),
            base.fixture('mixed.raw'), out)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, '')
        with open(out, 'rb') as handle:
            self.assertSameBytes(handle.read(), 'mixed.sparse.vhd')

    def test_relaying_a_dynamic_disk_gives_the_same_file(self) -> None:
        """dynamic -> dynamic re-lays the disk exactly as raw -> dynamic."""
        out = self.path('relaid.vhd')
        convert(base.fixture('mixed.full.vhd'), out,
                timestamp=base.FIXTURE_UNIX_TIMESTAMP,
                unique_id=base.FIXTURE_UUIDS['mixed.sparse.vhd'])
        with open(out, 'rb') as handle:
            self.assertSameBytes(handle.read(), 'mixed.sparse.vhd')
