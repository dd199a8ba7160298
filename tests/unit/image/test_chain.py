"""Differencing chains made by XenServer's vhd-util (and one by Xen
Orchestra's vhd-lib), read through their parents and flattened into one
disk; the data held against what libvhd reads through the same chain
(tests/fixtures/chains/README.md)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid

import diskimage_vhd
from diskimage_vhd.errors import InvalidVhdError
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.format.locator import PlatformCode
from diskimage_vhd.image.chain import MAX_CHAIN_DISKS
from diskimage_vhd.image.chain import open_chain
from diskimage_vhd.image.reader import VhdImage
from tests import base
from tests import chains
from tests.differencing import make_child

CLI = 'diskimage_vhd'


def uuid_of(path: str) -> bytes:
    with open(path, 'rb') as handle:
        handle.seek(-512, os.SEEK_END)
        return Footer.parse(handle.read(512)).unique_id


class FlattenTest(base.TempDirTestCase):

    def flatten(self, name: str, *options: str) -> tuple[dict, str]:
        disks = chains.unpack(name, self.path(name))
        before = chains.fingerprints(disks.values())
        out = self.path(f'{name}.out')
        result = base.run_module(CLI, 'convert', *options,
                                 disks['leaf.vhd'], out)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(chains.fingerprints(disks.values()), before,
                         'the chain was changed')
        return disks, out

    def test_two_deep_to_raw_is_what_libvhd_reads(self) -> None:
        _disks, out = self.flatten('two', '--to', 'raw')
        with open(out, 'rb') as handle:
            self.assertEqual(handle.read(), chains.expected('two'))

    def test_three_deep_resized_leaf_to_raw(self) -> None:
        """The leaf grew to 12 MiB after its snapshot: past the parents'
        8 MiB only its own sectors count, the rest is zero.
        """
        _disks, out = self.flatten('three', '--to', 'raw')
        with open(out, 'rb') as handle:
            data = handle.read()
        self.assertEqual(len(data), 12 * base.MiB)
        self.assertEqual(data, chains.expected('three'))

    def test_dynamic_output_read_by_qemu_and_valid(self) -> None:
        for name in ('two', 'three'):
            with self.subTest(chain=name):
                _disks, out = self.flatten(name)
                raw = self.path(f'{name}.raw')
                with open(raw, 'wb') as handle:
                    handle.write(chains.expected(name))
                base.qemu_compare(self, raw, out)
                with VhdImage(out) as image:
                    self.assertEqual(image.footer.disk_type, 3)  # dynamic
                check = base.run_module(CLI, 'check', out)
                self.assertEqual(check.returncode, 0, check.stdout)

    def test_qemu_img_alone_reads_zeros_where_the_parent_has_data(
            self) -> None:
        """What the user guide warns of: qemu-img does not follow a
        XenServer chain, so it is no referee for one (nor a flattener).
        """
        disks = chains.unpack('two', self.path('two'))
        raw = self.path('qemu.raw')
        result = base.run([base.require_qemu_img(self), 'convert', '-f',
                           'vpc', '-O', 'raw', disks['leaf.vhd'], raw])
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(raw, 'rb') as handle:
            data = handle.read()
        expected = chains.expected('two')
        self.assertEqual(data[:512], bytes(512))
        self.assertTrue(expected[:512].startswith(b'A000000A'))
        self.assertEqual(data[8 * 512:12 * 512], expected[8 * 512:12 * 512])

    def test_fixed_output(self) -> None:
        _disks, out = self.flatten('three', '--to', 'fixed')
        with open(out, 'rb') as handle:
            data = handle.read()
        self.assertEqual(data[:-512], chains.expected('three'))

    def test_the_api_reads_through_the_chain(self) -> None:
        disks = chains.unpack('two', self.path('two'))
        with open_chain(VhdImage(disks['leaf.vhd'])) as chain:
            expected = chains.expected('two')
            view = memoryview(bytearray(4096))
            chain.read_into(4096 * 512 - 1024, view)  # across sectors
            self.assertEqual(bytes(view),
                             expected[4096 * 512 - 1024:4096 * 512 + 3072])
        out = self.path('api.raw')
        diskimage_vhd.convert(disks['leaf.vhd'], out, target_format='raw')
        with open(out, 'rb') as handle:
            self.assertEqual(handle.read(), expected)

    def test_parents_are_sized_by_the_leafs_rule(self) -> None:
        """--size-from is how every disk of the chain is sized, not the
        leaf's alone.
        """
        disks = chains.unpack('three', self.path('three'))
        for rule in ('current-size', 'geometry'):
            with self.subTest(rule=rule), \
                    open_chain(VhdImage(disks['leaf.vhd'], rule)) as chain:
                self.assertEqual(len(chain.disks), 3)
                for disk in chain.disks:
                    self.assertEqual(disk.size_rule, rule)
                    self.assertEqual(disk.size, (
                        disk.footer.current_size if rule == 'current-size'
                        else disk.footer.geometry.size))

    def test_vhdfile_serves_the_flattened_disk(self) -> None:
        disks = chains.unpack('three', self.path('three'))
        out = self.path('served.vhd')
        with diskimage_vhd.VhdFile(disks['leaf.vhd']) as served, \
                open(out, 'wb') as handle:
            shutil.copyfileobj(served, handle)
        raw = self.path('three.raw')
        with open(raw, 'wb') as handle:
            handle.write(chains.expected('three'))
        base.qemu_compare(self, raw, out)

    def test_measure_says_what_convert_writes(self) -> None:
        disks, out = self.flatten('three')
        result = base.run_module(CLI, 'measure', '--json', disks['leaf.vhd'])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(json.loads(result.stdout)['file_size'],
                         os.path.getsize(out))

    def test_info_shows_the_chain(self) -> None:
        disks = chains.unpack('three', self.path('three'))
        result = base.run_module(CLI, 'info', '--json', disks['leaf.vhd'])
        self.assertEqual(result.returncode, 0, result.stderr)
        info = json.loads(result.stdout)
        self.assertEqual([p['path'] for p in info['chain']],
                         [os.path.realpath(disks['mid.vhd']),
                          os.path.realpath(disks['base.vhd'])])
        self.assertEqual([p['format'] for p in info['chain']],
                         ['differencing', 'dynamic'])
        self.assertEqual(info['parent_name'], 'mid.vhd')
        text = base.run_module(CLI, 'info', disks['leaf.vhd']).stdout
        self.assertIn('parent:', text)
        self.assertIn('base.vhd (dynamic', text)

    def test_check_reads_the_chain(self) -> None:
        disks = chains.unpack('two', self.path('two'))
        result = base.run_module(CLI, 'check', disks['leaf.vhd'])
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


class XenOrchestraChainTest(base.TempDirTestCase):
    """A chain written by Xen Orchestra's vhd-lib (xo/: its own chainVhd
    and writeData, a W2KU locator in UTF-16LE, a footer timestamp in Unix
    seconds), held against what vhd-lib and vhd-util coalesce read of it.
    """

    def setUp(self) -> None:
        super().setUp()
        self.disks = chains.unpack('xo', self.path('xo'))
        self.before = chains.fingerprints(self.disks.values())

    def tearDown(self) -> None:
        self.assertEqual(chains.fingerprints(self.disks.values()),
                         self.before, 'the chain was changed')
        super().tearDown()

    def test_three_deep_to_raw_by_the_api(self) -> None:
        out = self.path('leaf.raw')
        diskimage_vhd.convert(self.disks['leaf.vhd'], out,
                              target_format='raw')
        self.assertEqual(os.path.getsize(out), 8 * base.MiB + 2048)
        self.assertEqual(chains.sha256_of(out),
                         chains.expected_sha256('xo-leaf'))

    def test_two_deep_to_raw_by_the_cli(self) -> None:
        out = self.path('mid.raw')
        result = base.run_module(CLI, 'convert', '--to', 'raw',
                                 self.disks['mid.vhd'], out)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(chains.sha256_of(out),
                         chains.expected_sha256('xo-mid'))

    def test_info_shows_the_chain(self) -> None:
        result = base.run_module(CLI, 'info', '--json',
                                 self.disks['leaf.vhd'])
        self.assertEqual(result.returncode, 0, result.stderr)
        info = json.loads(result.stdout)
        self.assertEqual([p['path'] for p in info['chain']],
                         [os.path.realpath(self.disks['mid.vhd']),
                          os.path.realpath(self.disks['base.vhd'])])
        self.assertEqual([p['format'] for p in info['chain']],
                         ['differencing', 'dynamic'])
        self.assertEqual(info['parent_name'], 'mid.vhd')
        self.assertEqual(info['parent_uuid'],
                         str(uuid.UUID(bytes=uuid_of(self.disks['mid.vhd']))))

    def test_the_tap_vhd_it_converts_to_passes_check(self) -> None:
        """vhd-util calls the XO disks invalid (their timestamp is in Unix
        seconds: 2056); what convert writes of them is valid and holds the
        same data, its size rounded up to whole 2 MiB blocks with zeros.
        """
        self.assertEqual(
            base.run_module(CLI, 'check', self.disks['leaf.vhd']).returncode,
            22)
        out = self.path('leaf.out.vhd')
        result = base.run_module(CLI, 'convert', self.disks['leaf.vhd'], out)
        self.assertEqual(result.returncode, 0, result.stderr)
        check = base.run_module(CLI, 'check', out)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        with VhdImage(out) as image:
            self.assertEqual(image.footer.disk_type, 3)  # dynamic
            self.assertEqual(image.footer.creator_application, b'tap\0')
        raw = self.path('leaf.out.raw')
        diskimage_vhd.convert(out, raw, target_format='raw')
        size = 8 * base.MiB + 2048
        with open(raw, 'rb') as handle:
            data = handle.read()
        self.assertEqual(len(data), 10 * base.MiB)
        self.assertEqual(hashlib.sha256(data[:size]).hexdigest(),
                         chains.expected_sha256('xo-leaf'))
        self.assertEqual(data[size:], bytes(len(data) - size))


class ParentSearchTest(base.TempDirTestCase):
    """Parents found where libvhd finds them, and by name beside the child."""

    def setUp(self) -> None:
        super().setUp()
        self.disks = chains.unpack('two', self.path('sr'))
        self.base_uuid = uuid_of(self.disks['base.vhd'])
        self.base_data = self.read_flat(self.disks['base.vhd'])

    def read_flat(self, path: str) -> bytes:
        out = path + '.raw'
        diskimage_vhd.convert(path, out, target_format='raw')
        with open(out, 'rb') as handle:
            data = handle.read()
        os.unlink(out)
        return data

    def test_an_absolute_locator(self) -> None:
        os.mkdir(self.path('elsewhere'))
        child = make_child(self.path('elsewhere/child.vhd'), 'base.vhd',
                           self.disks['base.vhd'], self.base_uuid)
        data = self.read_flat(child)
        self.assertEqual(data[:len(self.base_data)], self.base_data)

    def test_a_relative_locator_through_folders(self) -> None:
        os.mkdir(self.path('up'))
        child = make_child(self.path('up/child.vhd'), 'base.vhd',
                           '../sr/base.vhd', self.base_uuid)
        data = self.read_flat(child)
        self.assertEqual(data[:len(self.base_data)], self.base_data)

    def test_an_absolute_locator_of_another_machine_falls_to_the_name(
            self) -> None:
        child = make_child(self.path('sr/child.vhd'), 'base.vhd',
                           '/var/run/sr-mount/gone/base.vhd', self.base_uuid)
        data = self.read_flat(child)
        self.assertEqual(data[:len(self.base_data)], self.base_data)

    def test_a_windows_parent_name_is_looked_for_by_its_file_name(
            self) -> None:
        child = make_child(self.path('sr/child.vhd'), 'C:\\VMs\\base.vhd',
                           'C:/VMs/base.vhd', self.base_uuid)
        data = self.read_flat(child)
        self.assertEqual(data[:len(self.base_data)], self.base_data)

    def test_windows_locators_when_the_macx_one_is_unreadable(self) -> None:
        """libvhd tries the locators in order: with the MACX one's text
        spoiled (no ``file://``) and the header's name changed, the W2KU
        locator (UTF-16 ``./base.vhd``) finds the parent.
        """
        leaf = self.disks['leaf.vhd']
        with open(leaf, 'r+b') as handle:
            handle.seek(512)
            header = DynamicHeader.parse(handle.read(1024))
            macx = header.locators[0]
            self.assertEqual(macx.code, PlatformCode.MACX)
            handle.seek(macx.data_offset)
            handle.write(b'ftp:')
            header = header.replace(parent_unicode_name=bytes(512))
            header.checksum = header.computed_checksum()
            handle.seek(512)
            handle.write(header.pack())
        self.assertEqual(self.read_flat(leaf), chains.expected('two'))

    def test_no_locators_only_the_header_name(self) -> None:
        """Xen Orchestra's vhd-lib ``chain()`` records the parent's UUID and
        name (relative to the child) in the header and writes no locator;
        libvhd alone would not find such a parent.
        """
        leaf = self.disks['leaf.vhd']
        with open(leaf, 'r+b') as handle:
            handle.seek(512)
            header = DynamicHeader.parse(handle.read(1024))
            header = header.replace(parent_locators=bytes(192))
            header.checksum = header.computed_checksum()
            handle.seek(512)
            handle.write(header.pack())
        with open_chain(VhdImage(leaf)) as chain:
            self.assertEqual([os.path.basename(d.path) for d in chain.disks],
                             ['leaf.vhd', 'base.vhd'])
        self.assertEqual(self.read_flat(leaf), chains.expected('two'))


class HostileChainTest(base.TempDirTestCase):
    """Each refused in one line naming what was looked for, nothing written."""

    def refused(self, leaf: str, *fragments: str) -> None:
        out = self.path('out.vhd')
        result = base.run_module(CLI, 'convert', leaf, out)
        self.assertOneLine(result, leaf, *fragments)
        self.assertEqual(result.returncode, 22)
        self.assertFalse(os.path.exists(out))

    def test_a_missing_parent(self) -> None:
        disks = chains.unpack('two', self.path('two'))
        os.mkdir(self.path('alone'))
        leaf = self.path('alone/leaf.vhd')
        shutil.copy(disks['leaf.vhd'], leaf)
        wanted = str(uuid.UUID(bytes=uuid_of(disks['base.vhd'])))
        self.refused(leaf, 'parent base.vhd', wanted, 'not found',
                     self.path('alone/base.vhd'))
        result = base.run_module(CLI, 'info', leaf)
        self.assertOneLine(result, 'parent base.vhd', 'not found')

    def test_a_missing_grandparent_names_the_leaf_and_the_middle(
            self) -> None:
        disks = chains.unpack('three', self.path('three'))
        os.unlink(disks['base.vhd'])
        self.refused(disks['leaf.vhd'], 'in its chain',
                     f'{os.path.realpath(disks["mid.vhd"])}: parent base.vhd',
                     'not found')

    def test_a_parent_with_another_uuid(self) -> None:
        disks = chains.unpack('wrong-uuid', self.path('w'))
        self.refused(disks['leaf.vhd'], disks['base.vhd'],
                     '11111111-2222-4333-8444-555555555555',
                     'the one the child was made from')
        with self.assertRaises(InvalidVhdError) as refused:
            open_chain(VhdImage(disks['leaf.vhd']))
        self.assertEqual(refused.exception.kind, 'parent-uuid')

    def test_a_cycle_made_by_vhd_util(self) -> None:
        """vhd-util query -d never returns on this chain."""
        disks = chains.unpack('cycle', self.path('c'))
        self.refused(disks['x.vhd'], 'cycle')
        with self.assertRaises(InvalidVhdError) as refused:
            open_chain(VhdImage(disks['x.vhd']))
        self.assertEqual(refused.exception.kind, 'parent-cycle')

    def test_its_own_parent(self) -> None:
        own = uuid.UUID('0123456789abcdef0123456789abcdef')
        child = make_child(self.path('child.vhd'), 'child.vhd', './child.vhd',
                           own.bytes, unique_id=own)
        self.refused(child, 'cycle')

    def test_a_character_device_is_not_a_parent(self) -> None:
        disks = chains.unpack('two', self.path('two'))
        os.unlink(disks['base.vhd'])
        os.symlink('/dev/zero', disks['base.vhd'])
        self.refused(disks['leaf.vhd'], 'not a regular file or block device')

    def test_a_chain_deeper_than_xenserver_makes(self) -> None:
        disks = chains.unpack('two', self.path('two'))
        parent, parent_uuid = 'base.vhd', uuid_of(disks['base.vhd'])
        folder = self.path('two')
        for depth in range(1, MAX_CHAIN_DISKS + 1):
            name = f'd{depth}.vhd'
            make_child(os.path.join(folder, name), parent, f'./{parent}',
                       parent_uuid)
            parent, parent_uuid = name, uuid_of(os.path.join(folder, name))
        deepest_allowed = os.path.join(folder, f'd{MAX_CHAIN_DISKS - 1}.vhd')
        with open_chain(VhdImage(deepest_allowed)) as chain:
            self.assertEqual(len(chain.disks), MAX_CHAIN_DISKS)
        self.refused(os.path.join(folder, f'd{MAX_CHAIN_DISKS}.vhd'),
                     f'deeper than {MAX_CHAIN_DISKS} disks')


class VhdUtilAgreesTest(base.TempDirTestCase):
    """XenServer's vhd-util, run on the same chains, named each parent and
    judged each disk (golden/, ``{DIR}`` standing for the folder): the
    drop-in says the same, and the chain reader finds the same parent.
    """

    CASES = ('two/leaf', 'three/leaf', 'three/mid', 'wrong-uuid/leaf',
             'xo/leaf', 'xo/mid')

    def golden(self, case: str, what: str) -> str:
        name = f'{case.replace("/", "-")}.{what}.txt'
        with open(os.path.join(chains.CHAINS_DIR, 'golden', name)) as handle:
            return handle.read().replace('{DIR}', self.tmp)

    def drop_in(self, *args: str) -> str:
        result = base.run_module('diskimage_vhd.vhdutil', *args, cwd=self.tmp,
                                 env={**os.environ, 'TZ': 'UTC'})
        return result.stdout + f'exit {result.returncode}\n'

    def test_query_and_check_as_xenserver(self) -> None:
        for name in ('two', 'three', 'wrong-uuid', 'xo'):
            chains.unpack(name, self.path(name))
        for case in self.CASES:
            with self.subTest(case=case):
                disk = f'{case}.vhd'
                query = self.golden(case, 'query-p-d')
                self.assertEqual(self.drop_in('query', '-n', disk, '-p', '-d'),
                                 query)
                self.assertEqual(self.drop_in('check', '-n', disk),
                                 self.golden(case, 'check'))
                if case.startswith('wrong-uuid'):
                    continue
                with open_chain(VhdImage(self.path(disk))) as chain:
                    self.assertEqual(chain.disks[1].path,
                                     query.splitlines()[0])
