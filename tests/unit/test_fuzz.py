"""Fuzzing: corrupt and hostile VHDs never crash, hang or bloat anything.

The campaign (``tests/fuzzing.py``) runs in a child process under an
address-space limit, seeded and time-boxed.  For a longer local run set
``DISKIMAGE_VHD_FUZZ_CASES`` / ``DISKIMAGE_VHD_FUZZ_SECONDS`` (and
``DISKIMAGE_VHD_FUZZ_SEED``), or use ``tools/fuzz.py``.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tracemalloc
from typing import Callable, List, Optional

from diskimage_vhd import check
from diskimage_vhd.errors import VhdError
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.image.reader import VhdImage
from diskimage_vhd.image.summary import inspect
from diskimage_vhd.make.convert import convert
from tests.base import fixture
from tests.base import REPO_ROOT
from tests.base import TempDirTestCase
from tests import fuzzing

SEED = int(os.environ.get('DISKIMAGE_VHD_FUZZ_SEED', '20261125'))
CASES = int(os.environ.get('DISKIMAGE_VHD_FUZZ_CASES', '10000'))
SECONDS = float(os.environ.get('DISKIMAGE_VHD_FUZZ_SECONDS', '85'))
MIN_CASES = min(CASES, 10000)
# Cases also run through the real commands, as subprocesses (slow).
SUBPROCESS_CASES = int(os.environ.get('DISKIMAGE_VHD_FUZZ_SUBPROCESS_CASES',
                                      '14'))
MAX_RSS_MIB = 400
# What one call may allocate on a header claiming 2^32 BAT entries.
MAX_PEAK_BYTES = 64 * 1024 * 1024


def entry_point(module: str) -> List[str]:
    """Run a console script's ``main`` as its installed wrapper does."""
    return [sys.executable, '-c',
            f'import sys; from {module} import main; sys.exit(main())']


def _findings_text(findings: List[dict]) -> str:
    return '\n'.join(
        f'case {f["index"]} [{f["target"]}] {f["seed_name"]}: '
        f'{"; ".join(f["notes"])}\n    {f["problem"]}' for f in findings[:10])


class FuzzCampaignTest(TempDirTestCase):
    """At least 10,000 mutants through every parser, in bounded time and
    memory; a finding prints the case to replay.
    """

    def test_campaign(self) -> None:
        command = [sys.executable, '-m', 'tests.fuzzing', '--json',
                   '--seed', str(SEED), '--cases', str(CASES),
                   '--seconds', str(SECONDS)]
        result = subprocess.run(command, capture_output=True, text=True,
                                cwd=REPO_ROOT, timeout=SECONDS + 120)
        self.assertIn(result.returncode, (0, 1), result.stderr[-3000:])
        report = json.loads(result.stdout)
        replay = (f'replay with: python -m tests.fuzzing --seed {SEED} '
                  '--replay INDEX')
        self.assertEqual(report['findings'], [],
                         _findings_text(report['findings']) + '\n' + replay)
        self.assertGreaterEqual(report['cases'], MIN_CASES,
                                f'only {report["cases"]} cases in '
                                f'{report["seconds"]:.0f} s')
        self.assertLess(report['max_rss_mib'], MAX_RSS_MIB)
        for target, slowest in report['slowest'].items():
            self.assertLess(slowest, fuzzing.CALL_SECONDS, target)
        self.assertEqual(report['calls']['reader'], report['cases'])
        self.assertEqual(report['calls']['check'], report['cases'])

    def test_subprocess_sample(self) -> None:
        """The installed commands themselves, on a spread of cases."""
        seeds = fuzzing.load_seeds(random.Random(SEED))
        files = fuzzing.WorkFiles(self.tmp, seeds)
        commands = [(name, entry_point('diskimage_vhd.cli.commands') + argv)
                    for name, argv in fuzzing.diskimage_vhd_commands('P')]
        if fuzzing.have_vhd_util():
            commands += [(name, entry_point('diskimage_vhd.vhdutil.cli') + argv)
                         for name, argv in fuzzing.vhd_util_commands('P')]
        step = max(1, CASES // SUBPROCESS_CASES)
        problems = []
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        self.addCleanup(pool.shutdown)
        for index in range(7, step * SUBPROCESS_CASES, step):
            mutant = fuzzing.make_mutant(seeds, SEED, index)
            with files.materialise(mutant) as path:
                runs = [(name, pool.submit(
                    subprocess.run, [path if a == 'P' else a for a in argv],
                    capture_output=True, text=True, timeout=60))
                    for name, argv in commands]
                for name, future in runs:
                    done = future.result()
                    problem = fuzzing.cli_problem(name, done.returncode,
                                                  done.stdout, done.stderr,
                                                  path)
                    if problem:
                        problems.append(f'case {index} ({"; ".join(mutant.notes)})'
                                        f': {problem}')
        self.assertEqual(problems, [])


class HarnessTest(TempDirTestCase):
    """The fuzzer makes what it claims and notices what it must."""

    def test_mutants_cover_every_structure_and_extreme(self) -> None:
        seeds = fuzzing.load_seeds(random.Random(SEED))
        notes = ' | '.join(
            '; '.join(fuzzing.make_mutant(seeds, SEED, index).notes)
            for index in range(MIN_CASES))
        for wanted in ('(footer)', '(footer_copy)', '(header)', '(bat)',
                       '(batmap_header)', '(batmap)', '(bitmap',
                       'truncate to', 'extend by', 'sparse extend',
                       'header.table_offset = 0x0;',
                       'header.table_offset = 0x8000000000000000',
                       'header.table_offset = 0x601',
                       'header.max_table_entries = 0x0;',
                       'header.max_table_entries = 0xffffffff',
                       'header.block_size = 0x0;',
                       'header.block_size = 0x300000',
                       'header.block_size = 0x400000',
                       'header.block_size = 0x200001',
                       'bat[', 'batmap bit', 'footer.disk_type = 0x4',
                       'checksum fixed'):
            self.assertIn(wanted, notes)

    def test_every_boundary_is_cut(self) -> None:
        seeds = fuzzing.load_seeds(random.Random(SEED))
        cuts = {(disk.name, length)
                for disk, length in fuzzing.truncation_cases(seeds)}
        for disk in seeds:
            for point in disk.boundaries():
                if point < len(disk.data):
                    self.assertIn((disk.name, point), cuts)

    def test_workfiles_restore_the_seed(self) -> None:
        seeds = fuzzing.load_seeds(random.Random(SEED))
        files = fuzzing.WorkFiles(self.tmp, seeds)
        for index in range(0, 3000, 7):
            mutant = fuzzing.make_mutant(seeds, SEED, index)
            with files.materialise(mutant) as path:
                if mutant.size < (1 << 26):
                    with open(path, 'rb') as handle:
                        self.assertEqual(handle.read(), mutant.bytes())
        for disk in seeds:
            with open(files.paths[disk.name], 'rb') as handle:
                self.assertEqual(handle.read(), disk.data, disk.name)

    def test_escapes_and_multiline_errors_are_findings(self) -> None:
        def crash(path: str) -> Optional[str]:
            raise struct.error('unpack requires a buffer of 512 bytes')

        problem, _ = fuzzing.run_target(crash, 'x')
        self.assertIn('escaped', problem)
        self.assertIn('struct.error', problem)
        self.assertIsNone(fuzzing.one_line_problem(
            'x: header has an invalid checksum', 'x'))
        self.assertIsNotNone(fuzzing.one_line_problem('x: bad\nmore', 'x'))
        self.assertIsNotNone(fuzzing.one_line_problem('x: 42', 'x'))
        self.assertIsNotNone(fuzzing.cli_problem(
            'diskimage-vhd info', 1, '', 'Traceback (most recent call last)',
            'x'))


class HugeClaimTest(TempDirTestCase):
    """A sparse file whose header claims 2^32 BAT entries (or a 2^32 batmap)
    is refused, or read, without allocating what it claims.
    """

    def _sparse_disk(self, entries: int, block_size: int,
                     current_size: int = 2 * 1024 ** 4,
                     length: int = (16 << 30) + (1 << 20)) -> str:
        path = self.path('huge.vhd')
        footer = Footer.for_xenserver(
            c.DISK_TYPE_DYNAMIC, current_size, 800000000,
            fuzzing.uuid.UUID(int=7).bytes)
        header = DynamicHeader.for_xenserver(entries)
        header.block_size = block_size
        header.checksum = header.computed_checksum()
        with open(path, 'wb') as handle:
            handle.write(footer.pack() + header.pack())
            handle.truncate(length)
            handle.seek(length - 512)
            handle.write(footer.pack())
        return path

    def _bounded(self, what: str, call: Callable[[], object]) -> None:
        tracemalloc.start()
        try:
            try:
                call()
            except VhdError as error:
                self.assertIsNone(fuzzing.one_line_problem(str(error),
                                                           self.tmp), what)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertLess(peak, MAX_PEAK_BYTES, what)

    def _all_readers(self, path: str) -> None:
        def read() -> None:
            with VhdImage(path) as image:
                fuzzing._read_some(image)

        self._bounded('reader', read)
        self._bounded('inspect', lambda: inspect(path))
        self._bounded('check', lambda: check(path))
        self._bounded('check -b', lambda: check(path, check_bitmaps=True))
        out = self.path('out.vhd')
        self._bounded('convert', lambda: convert(path, out,
                                                 timestamp=1000000000))
        self.assertFalse(os.path.exists(out))

    def test_2_to_the_32_entries_of_512_byte_blocks(self) -> None:
        self._all_readers(self._sparse_disk(0xFFFFFFFF, 512))

    def test_2_to_the_30_entries_of_2_mib_blocks(self) -> None:
        self._all_readers(self._sparse_disk(1 << 30, c.BLOCK_SIZE))

    def test_real_preallocation_still_reads(self) -> None:
        """The bound leaves XenServer's own 2 TiB preallocation readable."""
        with VhdImage(fixture('empty-100m-S2048.vhd')) as image:
            self.assertEqual(image.header.max_table_entries, 1024)
        path = self.path('pre.vhd')
        shutil.copy(fixture('mixed.sparse.vhd'), self.path('src.vhd'))
        convert(self.path('src.vhd'), path, max_size=2 * 1024 ** 4,
                timestamp=1000000000)
        with VhdImage(path) as image:
            self.assertEqual(image.header.max_table_entries, 1 << 20)
            self.assertEqual(image.read(0, 4096),
                             open(fixture('mixed.raw'), 'rb').read(4096))


class OffsetOverflowTest(TempDirTestCase):
    """Offsets just below 2^63 pass "less than 2^63" tests, but a read there
    overflows off_t: pread fails with EINVAL instead of reading nothing.
    """

    def test_data_offset_2_to_the_63_minus_1(self) -> None:
        path = self.path('overflow.vhd')
        data = bytearray(fuzzing.read_fixture_bytes('empty-100m.vhd'))
        for place in (0, len(data) - 512):
            footer = Footer.parse(bytes(data[place:place + 512]))
            footer.data_offset = (1 << 63) - 1
            footer.checksum = footer.computed_checksum()
            data[place:place + 512] = footer.pack()
        with open(path, 'wb') as handle:
            handle.write(data)
        for target in (fuzzing.target_reader, fuzzing.target_check,
                       fuzzing.target_check_bitmaps, fuzzing.target_commands):
            self.assertIsNone(fuzzing.run_target(target, path)[0], target)
        report = check(path)
        self.assertFalse(report.valid)
        self.assertIn('header', report.error)
