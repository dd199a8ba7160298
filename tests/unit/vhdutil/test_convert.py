"""vhd-util convert keeps the old tool's file semantics, as DIB relies on."""

from __future__ import annotations

import os

from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.xen.check import check
from tests import base

MODULE = 'diskimage_vhd.vhdutil'
FIXTURE_TIMESTAMP = str(base.FIXTURE_UNIX_TIMESTAMP)


class ConvertTestCase(base.TempDirTestCase):

    def vhd_util(self, *args: str, env=None):
        environ = {key: value for key, value in os.environ.items()
                   if not key.startswith('DIB_VHD_')
                   and key != 'SOURCE_DATE_EPOCH'}
        environ.update(env or {})
        return base.run_module(MODULE, *args, cwd=self.tmp, env=environ)

    def convert(self, source: str, target: str, src: int, dst: int,
                *extra: str, env=None):
        return self.vhd_util('convert', '-s', str(src), '-t', str(dst),
                             '-i', source, '-o', target, *extra, env=env)

    def raw(self, name: str = 'X.raw') -> str:
        """Scattered data, a block of zeros, a size that is not whole blocks."""
        size = 5 * base.BLOCK + 3 * 512
        return base.make_raw(self.path(name), size, [
            (0, base.random_bytes(4096, 1)),
            (base.BLOCK + 1000, base.random_bytes(70000, 2)),
            (4 * base.BLOCK - 100, base.random_bytes(300, 3)),
            (size - 512, base.random_bytes(512, 4)),
        ])

    def read(self, name: str) -> bytes:
        with open(self.path(name), 'rb') as handle:
            return handle.read()

    def assertValid(self, name: str) -> None:
        report = check(self.path(name), check_bitmaps=True)
        self.assertTrue(report.valid, report.error)


class TestDibSequence(ConvertTestCase):

    def test_exactly_as_disk_image_create_runs_it(self) -> None:
        raw = self.raw('image.raw')
        original = self.read('image.raw')
        with open(self.path('X-intermediate'), 'wb') as handle:  # "cp"
            handle.write(original)
        first = self.convert('X-intermediate', 'X-intermediate', 0, 1)
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertEqual(len(self.read('X-intermediate')), len(original) + 512)
        second = self.convert('X-intermediate', 'X-new', 1, 2)
        self.assertEqual(second.returncode, 0, second.stderr)
        self.assertTrue(os.path.exists(self.path('X-intermediate.bak')))
        self.assertFalse(os.path.exists(self.path('X-intermediate')))
        os.unlink(self.path('X-intermediate.bak'))  # DIB's "rm", set -e
        self.assertValid('X-new')
        base.qemu_compare(self, raw, self.path('X-new'))
        footer = Footer.parse(self.read('X-new')[-512:])
        self.assertEqual(footer.disk_type, c.DISK_TYPE_DYNAMIC)
        self.assertEqual(footer.creator_application, b'tap\0')
        # sparse: block 2 holds only zeros and is not written
        self.assertEqual(self.vhd_util('query', '-a', '-n', 'X-new').stdout,
                         '5\n')
        self.assertLess(os.path.getsize(self.path('X-new')), 6 * base.BLOCK)
        for line in first.stdout.splitlines() + second.stdout.splitlines():
            self.assertIn('X-intermediate', line)

    def test_reproduces_the_fixture_through_both_steps(self) -> None:
        with open(self.path('X'), 'wb') as handle:
            handle.write(base.read_fixture('mixed.raw'))
        self.assertEqual(self.convert(
            'X', 'X', 0, 1, '--timestamp', FIXTURE_TIMESTAMP, '--uuid',
            str(base.FIXTURE_UUIDS['mixed.fixed.vhd'])).returncode, 0)
        self.assertEqual(self.read('X'), base.read_fixture('mixed.fixed.vhd'))
        self.assertEqual(self.convert(
            'X', 'X.vhd', 1, 2, '--timestamp', FIXTURE_TIMESTAMP, '--uuid',
            str(base.FIXTURE_UUIDS['mixed.sparse.vhd'])).returncode, 0)
        self.assertEqual(self.read('X.vhd'),
                         base.read_fixture('mixed.sparse.vhd'))
        self.assertEqual(self.read('X.bak'),
                         base.read_fixture('mixed.fixed.vhd'))

    def test_environment_allocate_all_and_max_size(self) -> None:
        with open(self.path('X'), 'wb') as handle:
            handle.write(base.read_fixture('mixed.fixed.vhd'))
        result = self.convert(
            'X', 'X.vhd', 1, 2, '--uuid',
            str(base.FIXTURE_UUIDS['mixed.full.vhd']),
            env={'DIB_VHD_ALLOCATE_ALL': '1',
                 'SOURCE_DATE_EPOCH': FIXTURE_TIMESTAMP})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.read('X.vhd'), base.read_fixture('mixed.full.vhd'))
        os.rename(self.path('X.bak'), self.path('X'))
        result = self.convert(
            'X', 'Y.vhd', 1, 2, '--uuid',
            str(base.FIXTURE_UUIDS['mixed.prealloc.vhd']),
            env={'DIB_VHD_MAX_SIZE': '2048M',
                 'SOURCE_DATE_EPOCH': FIXTURE_TIMESTAMP})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.read('Y.vhd'),
                         base.read_fixture('mixed.prealloc.vhd'))

    def test_source_date_epoch_makes_conversions_identical(self) -> None:
        env = {'SOURCE_DATE_EPOCH': FIXTURE_TIMESTAMP}
        outputs = []
        for run in range(2):
            with open(self.path('X'), 'wb') as handle:
                handle.write(base.read_fixture('mixed.raw'))
            self.assertEqual(self.convert('X', 'X', 0, 1, env=env).returncode,
                             0)
            self.assertEqual(
                self.convert('X', f'out{run}.vhd', 1, 2, env=env).returncode,
                0)
            outputs.append(self.read(f'out{run}.vhd'))
            os.unlink(self.path('X.bak'))
        self.assertEqual(outputs[0], outputs[1])
        footer = Footer.parse(outputs[0][-512:])
        self.assertEqual(footer.timestamp, base.FIXTURE_VHD_TIMESTAMP)


class TestSemantics(ConvertTestCase):

    def test_raw_to_fixed_renames_when_names_differ(self) -> None:
        self.raw('in.raw')
        original = self.read('in.raw')
        result = self.convert('in.raw', 'out.vhd', 0, 1)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertFalse(os.path.exists(self.path('in.raw')))
        self.assertEqual(self.read('out.vhd')[:-512], original)
        self.assertValid('out.vhd')
        base.qemu_compare(self, base.make_raw(self.path('ref.raw'), 0,
                                              [(0, original)]),
                          self.path('out.vhd'))

    def test_a_second_raw_to_fixed_is_refused(self) -> None:
        self.raw('X')
        self.assertEqual(self.convert('X', 'X', 0, 1).returncode, 0)
        before = self.read('X')
        again = self.convert('X', 'X', 0, 1)
        self.assertNotEqual(again.returncode, 0)
        self.assertIn('already ends in a VHD footer', again.stderr)
        self.assertEqual(len(again.stderr.splitlines()), 1)
        self.assertEqual(self.read('X'), before)

    def test_fixed_to_raw_round_trip(self) -> None:
        self.raw('X')
        original = self.read('X')
        self.assertEqual(self.convert('X', 'X', 0, 1).returncode, 0)
        result = self.convert('X', 'back.raw', 1, 0)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.read('back.raw'), original)
        self.assertFalse(os.path.exists(self.path('X')))

    def test_fixed_to_dynamic_under_the_same_name(self) -> None:
        raw = self.raw('X')
        reference = self.read('X')
        self.assertEqual(self.convert('X', 'X', 0, 1).returncode, 0)
        result = self.convert('X', 'X', 1, 2)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(os.path.exists(self.path('X.bak')))
        self.assertValid('X')
        base.make_raw(raw + '.ref', 0, [(0, reference)])
        base.qemu_compare(self, raw + '.ref', self.path('X'))

    def test_dynamic_to_fixed_leaves_a_backup(self) -> None:
        with open(self.path('D'), 'wb') as handle:
            handle.write(base.read_fixture('mixed.sparse.vhd'))
        result = self.convert('D', 'D', 2, 1)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.read('D.bak'),
                         base.read_fixture('mixed.sparse.vhd'))
        footer = Footer.parse(self.read('D')[-512:])
        self.assertEqual(footer.disk_type, c.DISK_TYPE_FIXED)
        self.assertValid('D')
        raw = base.make_raw(self.path('ref.raw'), 3 * base.BLOCK,
                            [(0, base.read_fixture('mixed.raw'))])
        base.qemu_compare(self, raw, self.path('D'))

    def test_odd_sized_raw_is_padded_to_a_sector(self) -> None:
        base.make_raw(self.path('odd'), 1000, [(0, b'\1' * 1000)])
        result = self.convert('odd', 'odd', 0, 1)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn('padded with zeros to 1024', result.stderr)
        self.assertEqual(os.path.getsize(self.path('odd')), 1024 + 512)
        self.assertValid('odd')

    def test_options_in_any_order(self) -> None:
        self.raw('X')
        result = self.vhd_util('convert', '-o', 'Y', '-t', '1', '-i', 'X',
                               '-s', '0')
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(os.path.exists(self.path('Y')))


class TestErrors(ConvertTestCase):

    def test_unsupported_pair(self) -> None:
        self.raw('X')
        before = self.read('X')
        for pair in ((0, 2), (2, 0), (1, 3), (3, 1), (1, 1)):
            with self.subTest(pair=pair):
                result = self.convert('X', 'Y', *pair)
                self.assertEqual(result.returncode, 22)
                self.assertEqual(result.stdout, 'Currently, only RAW <-> '
                                 'FIXED, FIXED <-> DYNAMIC convert is '
                                 'supported.\n')
        self.assertEqual(self.read('X'), before)
        self.assertFalse(os.path.exists(self.path('Y')))

    def test_missing_input(self) -> None:
        for pair in ((0, 1), (1, 0), (1, 2), (2, 1)):
            with self.subTest(pair=pair):
                result = self.convert('nothing', 'out', *pair)
                self.assertNotEqual(result.returncode, 0)
                self.assertEqual(len(result.stderr.splitlines()), 1)
                self.assertIn('nothing', result.stderr)
                self.assertNotIn('Traceback', result.stderr)

    def test_a_bad_output_is_found_before_the_backup(self) -> None:
        """OUT in a missing directory is refused while IN keeps its name:
        there is no ``IN.bak`` to rename back by hand.
        """
        self.raw('X')
        self.assertEqual(self.convert('X', 'X', 0, 1).returncode, 0)
        before = self.read('X')
        result = self.convert('X', 'no/such/dir/out.vhd', 1, 2)
        self.assertNotEqual(result.returncode, 0)
        self.assertEqual(len(result.stderr.splitlines()), 1)
        self.assertIn('destination directory does not exist', result.stderr)
        self.assertEqual(self.read('X'), before)
        self.assertFalse(os.path.exists(self.path('X.bak')))

    def test_raw_input_to_fixed_to_dynamic_is_refused(self) -> None:
        self.raw('X')
        before = self.read('X')
        result = self.convert('X', 'Y', 1, 2)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('not a fixed VHD', result.stderr)
        self.assertEqual(self.read('X'), before)

    def test_bad_max_size_is_said_before_anything_moves(self) -> None:
        self.raw('X')
        self.assertEqual(self.convert('X', 'X', 0, 1).returncode, 0)
        result = self.convert('X', 'Y', 1, 2,
                              env={'DIB_VHD_MAX_SIZE': 'lots'})
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('DIB_VHD_MAX_SIZE', result.stderr)
        self.assertTrue(os.path.exists(self.path('X')))
        self.assertFalse(os.path.exists(self.path('X.bak')))

    def test_a_max_size_below_the_disk_exits_as_diskimage_vhd_does(
            self) -> None:
        # The same problem, the same exit status from both command lines:
        # the error keeps its type through the drop-in's backup step.
        self.raw('X')
        self.assertEqual(self.convert('X', 'X', 0, 1).returncode, 0)
        ours = base.run_module('diskimage_vhd', 'convert', '-q',
                               '--max-size', '1', self.path('X'),
                               self.path('Z'))
        self.assertEqual(ours.returncode, 2, ours.stderr)
        result = self.convert('X', 'Y', 1, 2, env={'DIB_VHD_MAX_SIZE': '1'})
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn('smaller than the disk', result.stderr)
        # Checked before X is moved aside: X stays where it was.
        self.assertTrue(os.path.exists(self.path('X')))
        self.assertFalse(os.path.exists(self.path('X.bak')))

    def test_missing_options_print_usage(self) -> None:
        result = self.vhd_util('convert', '-i', 'X', '-o', 'Y')
        self.assertEqual(result.returncode, 22)
        self.assertIn('<-s source type>', result.stdout)


class TestDibAzure(ConvertTestCase):
    """DIB_VHD_TARGET=azure: disk-image-create's own steps make the disk
    Azure takes, from a real partitioned ext4 image of no whole MiB.
    """

    def image(self) -> str:
        from tests import disks
        raw = disks.partition(self, self.path('image.raw'), 41 * base.MiB
                              + 7 * 512, 'label: dos\nstart=2048\n')
        start = disks.sfdisk_partitions(self, raw)[0]
        disks.put_filesystem(self, raw, start[1], start[2], 'ext4')
        return raw

    def test_disk_image_create_steps_make_an_azure_disk(self) -> None:
        raw = self.image()
        env = {'DIB_VHD_TARGET': 'azure'}
        with open(raw, 'rb') as source, \
                open(self.path('X-intermediate'), 'wb') as copy:  # "cp"
            copy.write(source.read())
        first = self.convert('X-intermediate', 'X-intermediate', 0, 1,
                             env=env)
        self.assertEqual(first.returncode, 0, first.stderr)
        second = self.convert('X-intermediate', 'X.vhd', 1, 2, env=env)
        self.assertEqual(second.returncode, 0, second.stderr)
        os.unlink(self.path('X-intermediate.bak'))  # DIB's "rm", set -e
        # The build log says what was made, and for whom.
        self.assertIn('FIXED -> FIXED for azure (DIB_VHD_TARGET=azure; '
                      'azure takes no dynamic disk)', second.stdout)
        self.assertEqual(second.stderr.splitlines()[-1],
                         'vhd-util: X.vhd is ready for azure')
        virtual = 42 * base.MiB
        self.assertEqual(os.path.getsize(self.path('X.vhd')), virtual + 512)
        footer = Footer.parse(self.read('X.vhd')[-512:])
        self.assertEqual((footer.disk_type, footer.current_size),
                         (c.DISK_TYPE_FIXED, virtual))
        base.qemu_compare(self, raw, self.path('X.vhd'))
        verdict = base.run_module('diskimage_vhd', 'check', '--for', 'azure',
                                  self.path('X.vhd'))
        self.assertEqual(verdict.returncode, 0, verdict.stdout)

    def test_dynamic_options_are_refused_for_azure(self) -> None:
        with open(self.path('X'), 'wb') as handle:
            handle.write(base.read_fixture('mixed.fixed.vhd'))
        for variable, value in (('DIB_VHD_ALLOCATE_ALL', '1'),
                                ('DIB_VHD_MAX_SIZE', '2048M')):
            with self.subTest(variable=variable):
                result = self.convert('X', 'X.vhd', 1, 2, env={
                    'DIB_VHD_TARGET': 'azure', variable: value})
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn('makes a fixed one: unset them', result.stderr)
                self.assertTrue(os.path.exists(self.path('X')))  # untouched
                self.assertFalse(os.path.exists(self.path('X.vhd')))
