"""One walk over the output: its pieces tile the file, whatever the sink.

Every output (a file, a checksummed file, a pipe, ``VhdFile``) is the
renderer's walk put in a sink, after one planning pass over the source.
The kernel's own count of the bytes a conversion read (``/proc/PID/io``)
shows that pass is the only one: written zeros are scanned once, with or
without checksums.
"""

from __future__ import annotations

import hashlib
import sys

from diskimage_vhd import convert
from diskimage_vhd.format import constants as c
from diskimage_vhd.image.sources import RawSource
from diskimage_vhd.make.convert import planned
from diskimage_vhd.make import identity
from diskimage_vhd.make.render import Copied
from diskimage_vhd.make.render import Empty
from diskimage_vhd.make.render import Sectors
from diskimage_vhd.make.render import STAMPED
from diskimage_vhd.make.render import UNSTAMPED
from diskimage_vhd.make.survey import DataMap
from tests import base

MiB, BLOCK = base.MiB, base.BLOCK


def _writes() -> list:
    """Data, written zeros and holes, in and across blocks."""
    return [
        (0, base.random_bytes(BLOCK, 1)),
        (BLOCK + 4096, base.random_bytes(8192, 2)),
        (2 * BLOCK, bytes(BLOCK)),
        (3 * BLOCK + MiB, base.random_bytes(MiB, 4)),
        (5 * BLOCK - 4096, base.random_bytes(8192, 5)),
        (11 * BLOCK + 512, base.random_bytes(BLOCK - 1024, 6)),
    ]


class TestPieces(base.TempDirTestCase):

    def setUp(self) -> None:
        super().setUp()
        # Not a whole number of sectors: fixed and dynamic pad it.
        self.raw = base.make_raw(self.path('in.raw'), 24 * MiB - 300,
                                 _writes())
        with open(self.raw, 'rb') as handle:
            self.data = handle.read()

    def test_pieces_tile_each_target_and_hold_its_bytes(self) -> None:
        stamp = identity.Stamp(base.FIXTURE_UNIX_TIMESTAMP,
                               base.FIXTURE_UUIDS['mixed.sparse.vhd'])
        for target in ('dynamic', 'fixed', 'raw'):
            with self.subTest(target=target), RawSource(self.raw) as source:
                out = self.path(f'out.{target}')
                convert(self.raw, out, target_format=target,
                        timestamp=stamp.unix_time, unique_id=stamp.unique_id)
                with open(out, 'rb') as handle:
                    written = handle.read()
                rendering = planned(source, target, False, None, stamp)
                self.assertEqual(rendering.plan.file_size, len(written))
                position = 0
                for piece in rendering.pieces():
                    self.assertEqual(piece.offset, position)
                    if type(piece) is Sectors:
                        length = len(piece.data)
                        got = piece.data
                    elif type(piece) is Copied:
                        length = piece.length
                        self.assertEqual(
                            piece.origin // BLOCK,
                            (piece.origin + length - 1) // BLOCK)
                        got = self.data[piece.origin:piece.origin + length]
                        self.assertNotEqual(got.count(0), length)
                    else:
                        self.assertIs(type(piece), Empty)
                        length = piece.length
                        got = bytes(length)
                    self.assertEqual(written[position:position + length],
                                     got)
                    position += length
                self.assertEqual(position, len(written))

    def test_stamped_and_unstamped_pieces_are_the_whole(self) -> None:
        with RawSource(self.raw) as source:
            rendering = planned(source, 'dynamic', False, None,
                                identity.Stamp(base.FIXTURE_UNIX_TIMESTAMP))
            every = list(rendering.pieces())
            parts = (list(rendering.pieces(kinds=UNSTAMPED))
                     + list(rendering.pieces(kinds=STAMPED)))
        self.assertEqual(sorted(every), sorted(parts))

    def test_a_range_is_the_same_bytes_as_the_whole(self) -> None:
        with RawSource(self.raw) as source:
            rendering = planned(source, 'dynamic', False, None,
                                identity.Stamp(base.FIXTURE_UNIX_TIMESTAMP))
            cuts = (100, c.TABLE_OFFSET + 3, 5000, 3 * BLOCK + 77)
            for lo in cuts:
                for hi in cuts:
                    if hi <= lo:
                        continue
                    pieces = list(rendering.pieces(lo, hi))
                    self.assertEqual(pieces[0].offset, lo)
                    last = pieces[-1]
                    self.assertEqual(last.offset + (
                        len(last.data) if type(last) is Sectors
                        else last.length), hi)


class TestDataMap(base.TempDirTestCase):

    def test_adjacent_ranges_are_one_entry(self) -> None:
        data = DataMap()
        for index in range(1000):  # one extent over 1000 blocks
            data.add(index * BLOCK, (index + 1) * BLOCK)
        self.assertEqual(len(data), 1)
        self.assertEqual(list(data.spans(BLOCK + 5, 3 * BLOCK)),
                         [(BLOCK + 5, 3 * BLOCK)])

    def test_block_pieces_tile_the_block(self) -> None:
        data = DataMap()
        data.add(BLOCK + 4096, BLOCK + 8192)
        data.add(BLOCK + MiB, 3 * BLOCK)
        block = data.block(1)
        self.assertEqual([(p.start, p.end) for p in block.pieces],
                         [(0, 4096), (4096, 8192), (8192, MiB),
                          (MiB, BLOCK)])
        self.assertEqual(data.block(0).is_zero, True)
        self.assertEqual(data.block(2).is_zero, False)


# Runs the command line in a child and prints the bytes it read, from the
# kernel's own accounting (copy_file_range counts too).
_MEASURED = ('import sys\n'
             'from diskimage_vhd.cli.commands import main\n'
             'status = main(sys.argv[1:])\n'
             'io = dict(l.split(": ") for l in open("/proc/self/io").read()'
             '.split("\\n") if l)\n'
             'print("RCHAR", io["rchar"], file=sys.stderr)\n'
             'sys.exit(status)\n')


class TestOnePass(base.TempDirTestCase):

    def read_by(self, *args: str) -> int:
        result = base.run([sys.executable, '-c', _MEASURED, *args],
                          cwd=base.REPO_ROOT)
        self.assertEqual(result.returncode, 0, result.stderr)
        return [int(line.split()[1]) for line in result.stderr.splitlines()
                if line.startswith('RCHAR ')][0]

    def test_written_zeros_are_scanned_once_with_checksums(self) -> None:
        zeros = 48 * MiB
        # The zeros come first: a writer that walked the source again to
        # reach the data would read them again on its way.
        raw = base.make_raw(self.path('in.raw'), 64 * MiB, [
            (0, bytes(zeros)), (56 * MiB, base.random_bytes(2 * MiB, 1))])
        plain = self.read_by('convert', '-q', raw, self.path('plain.vhd'))
        summed = self.read_by('convert', '-q', '--checksum', 'sha256', raw,
                              self.path('summed.vhd'))
        # The data (2 MiB) is read out to be hashed where it was copied in
        # the kernel; the zeros, already scanned, are not read again.
        self.assertLess(summed - plain, zeros // 4)
        with open(self.path('summed.vhd'), 'rb') as handle:
            expected = hashlib.sha256(handle.read()).hexdigest()
        with open(self.path('summed.vhd.sha256')) as handle:
            self.assertEqual(handle.read().split()[0], expected)
