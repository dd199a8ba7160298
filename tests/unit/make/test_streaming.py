"""measure, convert SRC -, in-flight checksums and the seekable VHD (issue 13).

The referee of every stream is the file ``convert SRC DST`` writes (itself
held to libvhd's fixtures and qemu-img elsewhere); checksum files are
refereed by the real ``sha256sum``/``md5sum``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
from typing import Dict, List, Tuple

from diskimage_vhd import convert
from diskimage_vhd.make.vhdfile import VhdFile
from tests import base

MiB, BLOCK = base.MiB, base.BLOCK
STAMP = ['--timestamp', str(base.FIXTURE_UNIX_TIMESTAMP),
         '--uuid', str(base.FIXTURE_UUIDS['mixed.sparse.vhd'])]


def _sparse_writes() -> List[Tuple[int, bytes]]:
    """Data, written zeros and holes, a block straddled, an odd size."""
    return [(0, base.random_bytes(5000, 1)),
            (BLOCK + 4096, bytes(BLOCK - 8192)),          # written zeros only
            (3 * BLOCK - 700, base.random_bytes(1400, 2)),  # straddling
            (6 * BLOCK + MiB, base.random_bytes(MiB, 3)),
            (11 * BLOCK + 3, b'tail')]


# name: (command-line options, the same as convert()'s keywords)
SHAPES: Dict[str, Tuple[List[str], dict]] = {
    'sparse': ([], {}),
    'allocate-all': (['--allocate-all'], {'allocate_all': True}),
    'preallocated': (['--max-size', '2G'], {'max_size': 2 * 1024 ** 3}),
    'fixed': (['--to', 'fixed'], {'target_format': 'fixed'}),
    'raw': (['--to', 'raw'], {'target_format': 'raw'}),
}
FIXED_STAMP = {'timestamp': base.FIXTURE_UNIX_TIMESTAMP,
               'unique_id': base.FIXTURE_UUIDS['mixed.sparse.vhd']}


class StreamingTestCase(base.TempDirTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.raw = base.make_raw(self.path('in.raw'), 11 * BLOCK + 1234,
                                 _sparse_writes())
        self.env = {key: value for key, value in os.environ.items()
                    if key != 'SOURCE_DATE_EPOCH'}

    def cli(self, *args: str, stdout=subprocess.PIPE, env=None
            ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, '-m', 'diskimage_vhd', *args], stdout=stdout,
            stderr=subprocess.PIPE, cwd=self.tmp, env=env or self.env)

    def to_file(self, source: str, name: str, *options: str,
                env=None) -> bytes:
        result = self.cli('convert', '-q', *options, source, name, env=env)
        self.assertEqual(result.returncode, 0, result.stderr)
        return self.read(name)

    def api(self, source: str, name: str, **options) -> bytes:
        """The file referee: ``convert()`` in this process."""
        convert(source, self.path(name), **options)
        return self.read(name)

    def to_stdout(self, source: str, name: str, *options: str,
                  env=None) -> bytes:
        with open(self.path(name), 'wb') as out:
            result = self.cli('convert', '-q', *options, source, '-',
                              stdout=out, env=env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, b'')
        return self.read(name)

    def read(self, name: str) -> bytes:
        with open(self.path(name), 'rb') as handle:
            return handle.read()


class TestStreamEqualsFile(StreamingTestCase):

    def test_shapes_from_raw_and_from_vhd(self) -> None:
        vhd = self.path('in.vhd')
        convert(self.raw, vhd)
        for label, source in (('raw', self.raw), ('vhd', vhd)):
            for shape, (options, keywords) in SHAPES.items():
                with self.subTest(source=label, shape=shape):
                    expected = self.api(source, f'{label}-{shape}.out',
                                        **FIXED_STAMP, **keywords)
                    streamed = self.to_stdout(source, f'{label}-{shape}.s',
                                              *STAMP, *options)
                    self.assertEqual(len(streamed), len(expected))
                    self.assertTrue(streamed == expected,
                                    'the stream differs from the file')

    def test_libvhd_fixtures_streamed(self) -> None:
        for name, options in (('mixed.sparse.vhd', []),
                              ('mixed.full.vhd', ['--allocate-all']),
                              ('mixed.prealloc.vhd', ['--max-size', '2048'])):
            with self.subTest(name):
                streamed = self.to_stdout(
                    base.fixture('mixed.raw'), name, '--timestamp',
                    str(base.FIXTURE_UNIX_TIMESTAMP), '--uuid',
                    str(base.FIXTURE_UUIDS[name]), *options)
                self.assertEqual(streamed, base.read_fixture(name))

    def test_reproducible_uuid_follows_content_in_a_stream(self) -> None:
        env = dict(self.env, SOURCE_DATE_EPOCH='1700000000')
        for shape in ('sparse', 'fixed'):
            with self.subTest(shape):
                expected = self.to_file(self.raw, shape + '.vhd',
                                        *SHAPES[shape][0], env=env)
                streamed = self.to_stdout(self.raw, shape + '.s',
                                          *SHAPES[shape][0], env=env)
                self.assertEqual(streamed, expected)
        other = base.make_raw(self.path('other.raw'), 11 * BLOCK + 1234,
                              [(0, b'other')])
        self.assertNotEqual(self.to_stdout(other, 'o.s', env=env)[68:84],
                            self.read('sparse.s')[68:84])

    def test_stream_reads_as_the_raw_image(self) -> None:
        streamed = self.path('s.vhd')
        self.to_stdout(self.raw, 's.vhd')
        base.qemu_compare(self, self.raw, streamed)


class TestMeasure(StreamingTestCase):

    def test_measure_is_the_size_written(self) -> None:
        for shape, (options, keywords) in SHAPES.items():
            with self.subTest(shape):
                result = self.cli('measure', '--json', *options, self.raw)
                self.assertEqual(result.returncode, 0, result.stderr)
                measured = json.loads(result.stdout)
                written = self.api(self.raw, shape + '.out', **keywords)
                self.assertEqual(measured['file_size'], len(written))
                self.assertEqual(measured['target_format'],
                                 keywords.get('target_format', 'dynamic'))

    def test_blocks_counted_as_convert_allocates(self) -> None:
        out = self.path('out.vhd')
        result = convert(self.raw, out)
        measured = json.loads(self.cli('measure', '--json',
                                       self.raw).stdout)
        # Blocks 0, 2, 6 and 11 hold data; block 1 only written zeros.
        self.assertEqual(measured['allocated_blocks'], 5)
        self.assertEqual(measured['allocated_blocks'],
                         result.allocated_blocks)
        self.assertEqual(measured['blocks'], 12)
        full = json.loads(self.cli('measure', '--json', '--allocate-all',
                                   self.raw).stdout)
        self.assertEqual(full['allocated_blocks'], 12)

    def test_text_output_and_errors(self) -> None:
        size = len(self.api(self.raw, 'x.vhd'))
        result = self.cli('measure', self.raw)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f'file size:        {size / MiB:.1f} MiB ({size} bytes)',
                      result.stdout.decode())
        for args in (['measure', self.path('missing.raw')],
                     ['measure', '--to', 'fixed', '--allocate-all', self.raw]):
            with self.subTest(args=args):
                result = self.cli(*args)
                self.assertNotEqual(result.returncode, 0)
                self.assertEqual(len(result.stderr.splitlines()), 1,
                                 result.stderr)
                self.assertNotIn(b'Traceback', result.stderr)


class TestChecksums(StreamingTestCase):

    def referee(self, tool: str, *args: str, stdin=None) -> str:
        if shutil.which(tool) is None:
            self.fail(f'{tool} is not installed (coreutils)')
        return subprocess.run([tool, *args], stdin=stdin, capture_output=True,
                              cwd=self.tmp, check=True, text=True).stdout

    def test_beside_a_file_as_sha256sum_and_md5sum_write_them(self) -> None:
        for name in ('out.vhd', self.path('abs.vhd')):
            with self.subTest(name):
                self.to_file(self.raw, name, *STAMP, '--checksum', 'sha256',
                             '--checksum', 'md5')
                for tool, ext in (('sha256sum', 'sha256'), ('md5sum', 'md5')):
                    with open(os.path.join(self.tmp, f'{name}.{ext}')) as f:
                        self.assertEqual(f.read(), self.referee(tool, name))
                self.referee('sha256sum', '-c', f'{name}.sha256')
        # Hashing on the way changes no byte of the image.
        self.assertEqual(self.read('out.vhd'),
                         self.api(self.raw, 'plain.vhd', **FIXED_STAMP))

    def test_checksum_files_of_a_stream(self) -> None:
        streamed = self.path('s.vhd')
        with open(streamed, 'wb') as out:
            result = self.cli('convert', '-q', '--allocate-all', self.raw, '-',
                              '--checksum-file', 'sha256=s.sha256',
                              '--checksum-file', 'md5=s.md5', stdout=out)
        self.assertEqual(result.returncode, 0, result.stderr)
        for tool, ext in (('sha256sum', 'sha256'), ('md5sum', 'md5')):
            with open(streamed, 'rb') as data:
                self.assertEqual(self.read(f's.{ext}').decode(),
                                 self.referee(tool, stdin=data))

    def test_fixed_and_reproducible_file_with_checksums(self) -> None:
        env = dict(self.env, SOURCE_DATE_EPOCH='1700000000')
        for options in (['--to', 'fixed'], []):
            with self.subTest(options=options):
                hashed = self.to_file(self.raw, 'h.vhd', '--checksum',
                                      'sha256', *options, env=env)
                self.assertEqual(hashed, self.to_file(self.raw, 'p.vhd',
                                                      *options, env=env))
                self.assertEqual(self.read('h.vhd.sha256').decode(),
                                 self.referee('sha256sum', 'h.vhd'))

    def test_misuse_is_one_line(self) -> None:
        for args in (['--checksum', 'sha256', self.raw, '-'],
                     ['--checksum-file', 'sha1=x', self.raw, 'o.vhd'],
                     ['--checksum-file', 'sha256', self.raw, 'o.vhd']):
            with self.subTest(args=args):
                result = self.cli('convert', *args)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertEqual(len(result.stderr.splitlines()), 1,
                                 result.stderr)
                self.assertFalse(os.path.exists(self.path('o.vhd')))


class TestStreamErrors(StreamingTestCase):

    def test_reader_closing_early_is_a_clean_error(self) -> None:
        big = base.make_raw(self.path('big.raw'), 64 * MiB,
                            [(0, base.random_bytes(32 * MiB, 9))])
        for command in (f'{sys.executable} -m diskimage_vhd convert -q '
                        f'{big} - | head -c 1000 > /dev/null; '
                        'exit ${PIPESTATUS[0]}',):
            result = subprocess.run(['bash', '-c', command],
                                    capture_output=True, env=self.env)
            self.assertNotEqual(result.returncode, 0)
            lines = result.stderr.decode().splitlines()
            self.assertEqual(len(lines), 1, result.stderr)
            self.assertIn('-: the reader closed the pipe', lines[0])
            self.assertIn('the stream is incomplete', lines[0])

    def test_refuses_a_terminal(self) -> None:
        """A real pseudo-terminal as standard output: nothing written."""
        primary, secondary = os.openpty()
        self.addCleanup(os.close, primary)
        try:
            result = subprocess.run(
                [sys.executable, '-m', 'diskimage_vhd', 'convert', self.raw,
                 '-'], stdout=secondary, stderr=subprocess.PIPE, env=self.env)
        finally:
            os.close(secondary)
        self.assertEqual(result.returncode, 2)
        self.assertIn(b'refusing to write a disk image to a terminal',
                      result.stderr)
        os.set_blocking(primary, False)
        try:
            leaked = os.read(primary, 4096)
        except OSError:  # EAGAIN, or EIO once the other end is closed
            leaked = b''
        self.assertEqual(leaked, b'')


class TestVhdFile(StreamingTestCase):
    """The seekable VHD: any range equals the same range of the file."""

    def test_random_ranges_equal_the_file(self) -> None:
        rng = random.Random(13)
        for shape, options in (('sparse', {}), ('full', {'allocate_all': True}),
                               ('prealloc', {'max_size': 2 * 1024 ** 3}),
                               ('fixed', {'target_format': 'fixed'})):
            with self.subTest(shape):
                out = self.path(shape + '.vhd')
                convert(self.raw, out, timestamp=base.FIXTURE_UNIX_TIMESTAMP,
                        unique_id=base.FIXTURE_UUIDS['mixed.sparse.vhd'],
                        **options)
                expected = self.read(shape + '.vhd')
                with VhdFile(self.raw, timestamp=base.FIXTURE_UNIX_TIMESTAMP,
                             unique_id=base.FIXTURE_UUIDS['mixed.sparse.vhd'],
                             **options) as image:
                    self.assertEqual(len(image), len(expected))
                    for _ in range(150):
                        start = rng.randrange(len(expected))
                        length = rng.choice((1, 511, 513, 4096, BLOCK + 3,
                                             rng.randrange(1, 3 * BLOCK)))
                        image.seek(start)
                        self.assertTrue(
                            image.read(length) == expected[start:start + length],
                            f'range {start}+{length} differs')
                    image.seek(-512, io.SEEK_END)
                    self.assertEqual(image.read(), expected[-512:])
                    self.assertEqual(image.read(10), b'')

    def test_whole_copy_and_segments(self) -> None:
        out = self.path('out.vhd')
        convert(self.raw, out, timestamp=base.FIXTURE_UNIX_TIMESTAMP,
                unique_id=base.FIXTURE_UUIDS['mixed.sparse.vhd'])
        expected = self.read('out.vhd')
        with VhdFile(self.raw, timestamp=base.FIXTURE_UNIX_TIMESTAMP,
                     unique_id=base.FIXTURE_UUIDS['mixed.sparse.vhd']) as image:
            copy = io.BytesIO()
            # A BufferedReader closes what it wraps: give it a view.
            shutil.copyfileobj(io.BufferedReader(image.segment(0, len(image))),
                               copy)
            self.assertEqual(copy.getvalue(), expected)
            step = 3 * MiB + 7
            parts = []
            for start in range(0, len(image), step):
                with image.segment(start, min(step, len(image) - start)) as part:
                    parts.append(part.read())
            self.assertEqual(b''.join(parts), expected)
        self.assertEqual(hashlib.sha256(b''.join(parts)).hexdigest(),
                         hashlib.sha256(expected).hexdigest())

    def test_reproducible_uuid_without_writing(self) -> None:
        os.environ['SOURCE_DATE_EPOCH'] = '1700000000'
        self.addCleanup(os.environ.pop, 'SOURCE_DATE_EPOCH')
        out = self.path('out.vhd')
        result = convert(self.raw, out)
        with VhdFile(self.raw) as image:
            self.assertEqual(image.footer.uuid, result.unique_id)
            self.assertEqual(image.read(), self.read('out.vhd'))


class TestApiEdges(StreamingTestCase):

    def test_seek_with_an_unknown_whence_is_a_value_error(self) -> None:
        with VhdFile(self.raw) as image:
            with self.assertRaises(ValueError):
                image.seek(0, 5)
            self.assertEqual(image.tell(), 0)

    def test_one_checksum_named_as_a_string(self) -> None:
        """``checksums='md5'`` is md5, not the letters m, d and 5; the sum
        is md5sum's of the file written.
        """
        out = self.path('api.vhd')
        result = convert(self.raw, out, checksums='md5')
        self.assertEqual(list(result.checksums), ['md5'])
        with open(out, 'rb') as handle:
            self.assertEqual(result.checksums['md5'],
                             hashlib.md5(handle.read()).hexdigest())

    def test_checksum_files_through_the_api(self) -> None:
        out = self.path('api.vhd')
        convert(self.raw, out, checksum_files={'sha256': [out + '.sha256']})
        check = subprocess.run(['sha256sum', '-c', out + '.sha256'],
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
