"""The fuzz campaign's hostile classes reach what they claim, and a target
that opens what a locator must never lead to is a finding."""

from __future__ import annotations

import os
import random
import struct
from typing import Dict, Optional

from diskimage_vhd import check
from diskimage_vhd.image.reader import VhdImage
from diskimage_vhd.xen.check import check as vhd_util_check
from tests.base import TempDirTestCase
from tests import fuzz_hostile
from tests import fuzzing
from tests.unit.test_fuzz import MIN_CASES
from tests.unit.test_fuzz import SEED


class HostileClassesTest(TempDirTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.seeds = fuzzing.load_seeds(random.Random(SEED))
        self.files = fuzzing.WorkFiles(self.tmp, self.seeds)
        self.by_name = {disk.name: disk for disk in self.seeds}

    def test_the_campaign_makes_every_class(self) -> None:
        mutants = [fuzzing.make_mutant(self.seeds, SEED, index)
                   for index in range(MIN_CASES)]
        notes = ' | '.join('; '.join(m.notes) for m in mutants)
        for wanted in ('footer.current_size = 0x0 at',
                       'footer.current_size = 0x8000000000000000 at',
                       'footer.current_size = 0xffffffffffffffff at',
                       'footer.original_size = 0xffffffffffffffff at',
                       'footer.data_offset = 0xffffffffffffffff at',
                       'header.max_table_entries = 0x0 (extreme)',
                       'header.max_table_entries = 0xffffffff (extreme)',
                       'header.block_size = 0x0 (extreme)',
                       'header.block_size = 0x1 (extreme)',
                       'header.block_size = 0x80000000 (extreme)',
                       'header.table_offset = 0xffffffffffffffff (extreme)',
                       'bat aliased', 'allocated over holes',
                       'fixed data over holes', 'locator.data_offset',
                       'locator.data_space', 'locator.code', '(locator0)',
                       '(control characters)', 'footer.creator = '):
            self.assertIn(wanted, notes)
        used = {m.seed.name for m in mutants}
        for name, _locator in fuzz_hostile.HOSTILE_LOCATORS:
            self.assertIn(name, used)
        for name in ('diff-child', 'diff-grandchild', 'diff-cycle-a',
                     'diff-cycle-b'):
            self.assertIn(name, used)

    def test_aliasing_and_holes_are_what_they_say(self) -> None:
        """Found by the reader for what they are: aliased blocks overlap;
        blocks over holes read as zeros without reading the holes.
        """
        rng = random.Random(1)
        disk = self.by_name['gen-64k-partial']
        mutant = fuzzing.Mutant(disk)
        while 'bat aliased' not in ' '.join(mutant.notes):
            fuzz_hostile.bat_alias(mutant, rng)
        with self.files.materialise(mutant) as path:
            self.assertEqual(check(path).problem.code, 'unreadable-block-overlap')
        mutant = fuzzing.Mutant(disk)
        fuzz_hostile.over_holes(mutant, random.Random(3))
        with self.files.materialise(mutant) as path:
            with VhdImage(path) as image:
                self.assertGreater(image.file_size, 1 << 26)
                self.assertEqual(list(image.data_extents()), [])
                self.assertEqual(image.read(0, 65536), bytes(65536))

    def test_seeds_unmutated_through_every_target(self) -> None:
        """Each hostile locator and each chain answers without a finding,
        opening nothing it must not; the verdicts are the ones a
        differencing disk should get.
        """
        watch = fuzz_hostile.OpenWatch.watching(self.tmp)
        verdicts: Dict[str, Optional[str]] = {}
        for disk in self.seeds:
            if not disk.name.startswith(fuzz_hostile.PREFIX):
                continue
            with self.files.materialise(fuzzing.Mutant(disk)) as path:
                for name, function, _every in fuzzing.TARGETS:
                    problem, _ = fuzzing.run_target(function, path)
                    problem = problem or watch.take()
                    self.assertIsNone(problem, f'{disk.name}: {name}')
                verdicts[disk.name] = vhd_util_check(path).error
        self.assertIsNone(verdicts['diff-child'])
        self.assertIsNone(verdicts['diff-grandchild'])
        self.assertEqual(verdicts['diff-self'],
                         'error resolving ./diff-self: -40')
        for name in ('diff-fifo', 'diff-ptmx', 'diff-zero', 'diff-device-link',
                     'diff-directory', 'diff-missing', 'diff-long-name',
                     'diff-long-path'):
            self.assertIsNotNone(verdicts[name], name)

    def test_opening_a_forbidden_parent_is_a_finding(self) -> None:
        watch = fuzz_hostile.OpenWatch.watching(self.tmp)

        def opens_the_fifo(path: str) -> Optional[str]:
            fd = os.open(os.path.join(self.tmp, fuzz_hostile.FIFO),
                         os.O_RDONLY | os.O_NONBLOCK)
            os.close(fd)
            return None

        problem, _ = fuzzing.run_target(opens_the_fifo, 'x')
        self.assertIsNone(problem)
        self.assertIn('opened', watch.take() or '')
        self.assertIsNone(watch.take())

    def test_size_extremes_agree_in_both_footers(self) -> None:
        disk = self.by_name['mixed.sparse.vhd']
        rng = random.Random(5)
        for _ in range(50):
            mutant = fuzzing.Mutant(disk)
            fuzz_hostile.size_extremes(mutant, rng)
            footers = [p for p in mutant.patches
                       if p[0] in (48, 40, 16)
                       or p[0] - (len(disk.data) - 512) in (48, 40, 16)]
            if footers:
                self.assertEqual(len(footers), 2)
                self.assertEqual(footers[0][1], footers[1][1])
                self.assertIn(struct.unpack('>Q', footers[0][1])[0],
                              sum(fuzz_hostile.EXTREMES.values(), []))

    def test_forged_text_is_escaped_by_every_command(self) -> None:
        """Each forged parent name and creator, through every command in
        process: no control character reaches the output unescaped.
        """
        child = self.by_name['diff-child']
        rng = random.Random(7)
        for _ in range(12):
            mutant = fuzzing.Mutant(child)
            fuzz_hostile.hostile_text(mutant, rng)
            fuzzing._fix_checksums(mutant, random.Random(0))
            with self.files.materialise(mutant) as path:
                problem, _ = fuzzing.run_target(fuzzing.target_commands, path)
                self.assertIsNone(problem, mutant.notes)
