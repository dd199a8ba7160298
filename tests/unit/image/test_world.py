"""VHDs written by other programs, read whole (tests/fixtures/world).

Each disk of the corpus is read, checked and converted; its data is held
to an independent reading (qemu-img's, recorded when the corpus was made
and, where qemu reads the disk as it stands, taken again here), and the
drop-in's text to what XenServer's own vhd-util printed for the same file.
Disks kept compressed (``NAME.vhd.xz``) are unpacked under their own names
into a scratch folder first.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import lzma
import os
import shutil
import tempfile

from diskimage_vhd import check
from diskimage_vhd import convert
from diskimage_vhd.errors import EmptyDiskError
from diskimage_vhd.format import sizing
from diskimage_vhd.image.reader import VhdImage
from diskimage_vhd import inspect
from diskimage_vhd.make.stream import measure
from diskimage_vhd.vhdutil.cli import main as vhd_util_main
from tests import base
from tests.unit.test_crash_safety import DISKIMAGE_VHD

WORLD = os.path.join(base.REPO_ROOT, 'tests', 'fixtures', 'world')
# Disks qemu reads as they stand; the others' reference is qemu's reading
# of the disk before it was re-stamped (or, for win8-child.vhd, of its
# parent: qemu's vpc driver reads no parent).  qemu 7.2 reads vbox-40m.vhd
# only to its geometry, 33280 bytes short: qemu-img compare holds the rest
# of ours to zeros.
QEMU_READS_AS_IS = ('qemu-', 'xo-', 'vpc-within-', 'win8.vhd', 'win10-',
                    'xapi-', 'vbox-40m')
# Differencing disks: their text only (their parents are not kept).
CHILDREN = ['windows-parent.vhd', 'fat-differential.vhd']


def corpus() -> dict[str, tuple[int, str]]:
    """Each disk's reference: its size and the sha256 of its bytes."""
    disks = {}
    with open(os.path.join(WORLD, 'references.txt')) as handle:
        for line in handle:
            name, size, digest = line.split()
            disks[name] = (int(size), digest)
    return disks


def unpack(folder: str) -> None:
    """Each ``NAME.vhd.xz`` of the corpus, unpacked as ``folder/NAME.vhd``."""
    for packed in sorted(os.listdir(WORLD)):
        if packed.endswith('.vhd.xz'):
            with lzma.open(os.path.join(WORLD, packed)) as source, \
                    open(os.path.join(folder, packed[:-len('.xz')]),
                         'wb') as target:
                shutil.copyfileobj(source, target)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def golden(name: str) -> list[tuple[list[str], str, str, int]]:
    """XenServer's vhd-util on ``name``: (arguments, stdout, stderr, exit
    status).
    """
    runs = []
    stem = name[:-len('.vhd')]
    with open(os.path.join(WORLD, f'{stem}.vhd-util.txt'),
              encoding='latin-1') as handle:
        lines = handle.read().splitlines(keepends=True)
    args: list[str] = []
    out: list[str] = []
    err: list[str] = []
    for line in lines:
        if line.startswith('$ vhd-util '):
            args, out, err = line.split()[2:], [], []
        elif line.startswith('[exit '):
            runs.append((args, ''.join(out), ''.join(err), int(line[6:-2])))
        elif line.startswith('stderr: '):
            err.append(line[len('stderr: '):])
        else:
            out.append(line)
    return runs


class WorldTestCase(base.TempDirTestCase):
    """The corpus, its compressed disks unpacked once for the class."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.unpacked = tempfile.mkdtemp(prefix='diskimage-vhd-world-')
        cls.addClassCleanup(shutil.rmtree, cls.unpacked, ignore_errors=True)
        unpack(cls.unpacked)

    def disk(self, name: str) -> str:
        kept = os.path.join(WORLD, name)
        return kept if os.path.exists(kept) else os.path.join(self.unpacked,
                                                              name)


class WorldCorpusTest(WorldTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.disks = corpus()

    def test_the_corpus_is_all_there(self) -> None:
        names = sorted(n[:-len('.xz')] if n.endswith('.xz') else n
                       for n in os.listdir(WORLD)
                       if n.endswith(('.vhd', '.vhd.xz')))
        self.assertEqual(names, sorted([*self.disks, *CHILDREN]))
        self.assertGreaterEqual(len(names), 17)
        for name in names:
            self.assertTrue(os.path.exists(self.disk(name)), name)

    def test_every_byte_inside_the_size_is_read(self) -> None:
        for name, (size, digest) in self.disks.items():
            with self.subTest(disk=name):
                raw = self.path(name + '.raw')
                convert(self.disk(name), raw, target_format='raw')
                self.assertEqual(os.path.getsize(raw), size)
                self.assertEqual(sha256_of(raw), digest)

    def test_qemu_img_reads_the_same_bytes(self) -> None:
        base.require_qemu_img(self)
        for name in self.disks:
            if not name.startswith(QEMU_READS_AS_IS):
                continue
            with self.subTest(disk=name):
                ours = self.path(name + '.raw')
                convert(self.disk(name), ours, target_format='raw')
                base.qemu_compare(self, ours, self.disk(name))

    def test_info_check_measure_and_convert_agree_on_the_size(self) -> None:
        for name, (size, _digest) in self.disks.items():
            with self.subTest(disk=name):
                path = self.disk(name)
                self.assertEqual(inspect(path)['virtual_size'], size)
                self.assertEqual(measure(path, target_format='raw')
                                 .virtual_size, size)
                report = check(path)
                if report.valid:
                    self.assertEqual(report.virtual_size, size)
                result = convert(path, self.path('out.raw'),
                                 target_format='raw')
                self.assertEqual(result.virtual_size, size)

    def test_converts_to_a_tap_vhd_holding_the_same_data(self) -> None:
        base.require_qemu_img(self)
        for name, (_size, digest) in self.disks.items():
            with self.subTest(disk=name):
                out = self.path(name)
                convert(self.disk(name), out)
                self.assertTrue(check(out).valid, check(out).error)
                back = self.path('back.raw')
                result = base.run(['qemu-img', 'convert', '-f', 'vpc', '-O',
                                   'raw', out, back])
                self.assertEqual(result.returncode, 0, result.stderr)
                with VhdImage(out) as image:
                    length = image.size
                with open(back, 'rb') as handle:
                    data = handle.read()
                size = self.disks[name][0]
                self.assertEqual(hashlib.sha256(data[:size]).hexdigest(),
                                 digest)
                self.assertFalse(any(data[size:length]))

    def test_the_drop_in_prints_what_xenserver_printed(self) -> None:
        here = os.getcwd()
        self.addCleanup(os.chdir, here)
        for name in [*self.disks, *CHILDREN]:
            os.chdir(os.path.dirname(self.disk(name)))
            for args, text, errors, status in golden(name):
                with self.subTest(disk=name, command=' '.join(args)):
                    out, err = io.StringIO(), io.StringIO()
                    with contextlib.redirect_stdout(out), \
                            contextlib.redirect_stderr(err):
                        code = vhd_util_main(args)
                    self.assertEqual((out.getvalue(), err.getvalue(), code),
                                     (text, errors, status))


class SizeRuleTest(WorldTestCase):
    """Where the footer's two sizes disagree, the current size wins unless
    the writer is one whose current size is known to be wrong.
    """

    def size(self, name: str, rule: str) -> int:
        with VhdImage(self.disk(name), rule) as image:
            return image.size

    def test_discutils_sector_past_the_geometry_is_kept(self) -> None:
        # The last sector (a GPT backup header's place) lies past the CHS.
        self.assertEqual(self.size('dutl-past-chs.vhd', sizing.AUTO),
                         8 * base.MiB + 1536)
        self.assertEqual(self.size('dutl-past-chs.vhd', sizing.GEOMETRY),
                         8355840)

    def test_virtual_pc_is_sized_by_its_geometry_unless_data_is_past_it(
            self) -> None:
        self.assertEqual(self.size('vpc-within-chs.vhd', sizing.AUTO),
                         8355840)
        self.assertEqual(self.size('vpc-within-chs.vhd',
                                   sizing.CURRENT_SIZE), 8 * base.MiB + 1536)
        self.assertEqual(self.size('vpc-past-chs.vhd', sizing.AUTO),
                         8 * base.MiB + 1536)

    def test_a_fixed_disk_with_data_past_the_geometry(self) -> None:
        self.assertEqual(self.size('wa-fixed-past-chs.vhd', sizing.AUTO),
                         8 * base.MiB + 1536)

    def test_real_virtualbox_and_windows_disks_keep_their_current_size(
            self) -> None:
        # VirtualBox 4.3 and Windows 10 wrote geometries short of the size
        # (963/5/17 and 1040/16/63); their current size is the size.
        self.assertEqual(self.size('vbox-40m.vhd', sizing.AUTO),
                         40 * base.MiB)
        self.assertEqual(self.size('vbox-40m.vhd', sizing.GEOMETRY),
                         41909760)
        self.assertEqual(self.size('win10-dynamic.vhd', sizing.AUTO),
                         512 * base.MiB)
        self.assertEqual(self.size('win10-dynamic.vhd', sizing.GEOMETRY),
                         536739840)
        # The backup GPT header, in the last sector, past the geometry.
        with VhdImage(self.disk('win10-dynamic.vhd')) as image:
            self.assertEqual(image.read(512 * base.MiB - 512, 8), b'EFI PART')

    def test_the_commands_take_the_rule(self) -> None:
        path = os.path.join(WORLD, 'dutl-past-chs.vhd')
        for command in ('info', 'check', 'measure'):
            with self.subTest(command=command):
                to_raw = ['--to', 'raw'] if command == 'measure' else []
                result = base.run(DISKIMAGE_VHD + [
                    command, '--json', '--size-from', 'geometry', *to_raw,
                    path])
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertIn('"virtual_size": 8355840', result.stdout)
        out = self.path('out.raw')
        result = base.run(DISKIMAGE_VHD + ['convert', '-q', '--to', 'raw',
                                           '--size-from', 'geometry', path,
                                           out])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(os.path.getsize(out), 8355840)

    def test_an_unknown_rule_is_a_usage_error(self) -> None:
        result = base.run(DISKIMAGE_VHD + [
            'info', '--size-from', 'cylinders',
            os.path.join(WORLD, 'vbox-512.vhd')])
        self.assertEqual(result.returncode, 2)


class SmallestDiskTest(base.TempDirTestCase):

    def test_a_512_byte_disk_converts(self) -> None:
        out = self.path('out.vhd')
        result = base.run(DISKIMAGE_VHD + [
            'convert', '-q', os.path.join(WORLD, 'vbox-512.vhd'), out])
        self.assertEqual(result.returncode, 0, result.stderr)
        with VhdImage(out) as image:
            self.assertEqual(image.footer.current_size, 2 * base.MiB)
            # make.sh's pattern for the last sector, which is the first.
            self.assertEqual(image.read(0, 512),
                             bytes((i * 7 + 3) & 0xFF for i in range(512)))

    def test_an_empty_file_is_refused_as_every_bad_input_is(self) -> None:
        empty = base.make_raw(self.path('empty.raw'), 0)
        with self.assertRaises(EmptyDiskError):
            convert(empty, self.path('out.vhd'))
        for argv in (['convert', empty, self.path('out.vhd')],
                     ['measure', empty]):
            with self.subTest(argv=argv[0]):
                result = base.run(DISKIMAGE_VHD + argv)
                self.assertOneLine(result, empty, 'is empty')
                self.assertEqual(result.returncode, 22)
