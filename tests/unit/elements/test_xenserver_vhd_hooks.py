"""Run the xenserver-vhd element's real hook scripts against fake roots.

The hooks are bash scripts that diskimage-builder runs; these tests run
them unchanged.  Only the chroot-only tools (update-initramfs, dracut,
lsinitramfs, lsinitrd) and vhd-util are stand-ins put first on PATH: small
scripts that record their arguments and treat a fake initramfs as a plain
list of the files in it.
"""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from typing import Dict, List, Optional, Sequence
import unittest

from diskimage_vhd import dib

ELEMENT = Path(dib.elements_path()) / 'xenserver-vhd'
PV_HOOK = ELEMENT / 'finalise.d' / '60-xenserver-vhd-pv-drivers'
CHECK_HOOK = ELEMENT / 'root.d' / '01-xenserver-vhd-check-vhd-util'
BOOT_HOOK = ELEMENT / 'finalise.d' / '90-xenserver-vhd-boot-loader'

# What the build-stopping error tells a user to run: a command that works
# before the package is on PyPI.
INSTALL_HINT = 'pip install . in a checkout of diskimage-vhd'
KVER = '6.1.0-99-amd64'
BLK = 'kernel/drivers/block/xen-blkfront.ko'
NET = 'kernel/drivers/net/xen-netfront.ko'

# A fake initramfs is a text file listing its members, one a line, as
# lsinitramfs prints them.  The generators add every module named in
# their configuration that the fake root's /lib/modules holds.
FAKE_LIST = """\
#!/bin/bash
echo "$(basename "$0") $*" >> "$FAKE_LOG"
cat "${@: -1}"
"""

FAKE_UPDATE_INITRAMFS = """\
#!/bin/bash
set -eu
echo "update-initramfs $*" >> "$FAKE_LOG"
[ "$1" = -u ] && [ "$2" = -k ] || exit 2
root=$XENSERVER_VHD_ROOT
initrd=$root/boot/initrd.img-$3
while read -r mod; do
    [ -n "$mod" ] || continue
    find "$root/lib/modules/$3" -name "$mod.ko*" \\
        | sed "s|^$root/||" >> "$initrd"
done < "$root/etc/initramfs-tools/modules"
"""

FAKE_DRACUT = """\
#!/bin/bash
set -eu
echo "dracut $*" >> "$FAKE_LOG"
[ "$1" = -f ] && [ "$2" = --kver ] || exit 2
root=$XENSERVER_VHD_ROOT
initrd=$root/boot/initramfs-$3.img
add_drivers=""
for conf in "$root"/etc/dracut.conf.d/*.conf; do
    source "$conf"
done
for mod in $add_drivers; do
    find "$root/lib/modules/$3" -name "$mod.ko*" \\
        | sed "s|^$root/||" >> "$initrd"
done
"""


def _write_script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _path_without(command: str) -> str:
    """Return $PATH minus the directories that hold ``command``.

    So a real vhd-util (e.g. this package's, once installed) cannot
    shadow or stand in for the fake one a test puts first.
    """
    dirs = os.environ.get('PATH', '/usr/bin:/bin').split(os.pathsep)
    return os.pathsep.join(
        d for d in dirs if d and not os.path.exists(os.path.join(d, command)))


class _HookTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix='xenserver-vhd-test-'))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.bin = self.tmp / 'bin'
        self.bin.mkdir()
        self.log = self.tmp / 'calls.log'
        self.log.touch()

    def run_hook(self, hook: Path, env: Optional[Dict[str, str]] = None,
                 argv: Optional[List[str]] = None,
                 ) -> subprocess.CompletedProcess:
        full_env = {
            'PATH': str(self.bin) + os.pathsep + _path_without('vhd-util'),
            'FAKE_LOG': str(self.log),
            'LC_ALL': 'C',
        }
        full_env.update(env or {})
        return subprocess.run(
            argv or [str(hook)], env=full_env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)

    def calls(self) -> List[str]:
        return self.log.read_text().splitlines()


class PvDriversHookTest(_HookTestCase):
    """finalise.d/60-xenserver-vhd-pv-drivers on fake roots."""

    def make_root(self, layout: str, config: Optional[str],
                  modules: List[str], in_initrd: List[str],
                  builtin: Sequence[str] = ()) -> Path:
        """Lay out a root with one kernel, as ``layout`` installs it."""
        root = self.tmp / 'root'
        moddir = root / 'lib' / 'modules' / KVER
        moddir.mkdir(parents=True)
        (root / 'boot').mkdir()
        (root / 'boot' / ('vmlinuz-' + KVER)).write_bytes(b'kernel')
        for mod in modules:
            (moddir / mod).parent.mkdir(parents=True, exist_ok=True)
            (moddir / mod).write_bytes(b'\x7fELF')
        (moddir / 'modules.builtin').write_text(
            ''.join(m + '\n' for m in builtin))
        listing = ''.join(
            'usr/lib/modules/%s/%s\n' % (KVER, m) for m in in_initrd)
        if layout == 'initramfs-tools':
            if config is not None:
                (root / 'boot' / ('config-' + KVER)).write_text(config)
            (root / 'etc' / 'initramfs-tools').mkdir(parents=True)
            (root / 'etc' / 'initramfs-tools' / 'modules').write_text(
                '# List of modules that you want to include in your'
                ' initramfs.\n')
            (root / 'boot' / ('initrd.img-' + KVER)).write_text(listing)
            _write_script(self.bin / 'update-initramfs', FAKE_UPDATE_INITRAMFS)
            _write_script(self.bin / 'lsinitramfs', FAKE_LIST)
        else:
            if config is not None:
                (moddir / 'config').write_text(config)
            (root / 'etc' / 'dracut.conf.d').mkdir(parents=True)
            (root / 'boot' / ('initramfs-%s.img' % KVER)).write_text(listing)
            _write_script(self.bin / 'dracut', FAKE_DRACUT)
            _write_script(self.bin / 'lsinitrd', FAKE_LIST)
        self.root = root
        return root

    def run_pv(self) -> subprocess.CompletedProcess:
        return self.run_hook(PV_HOOK, {'XENSERVER_VHD_ROOT': str(self.root)})

    def regenerations(self) -> List[str]:
        return [c for c in self.calls() if not c.startswith('ls')]

    # initramfs-tools (Debian, Ubuntu)

    def test_initramfs_tools_built_in(self) -> None:
        self.make_root('initramfs-tools',
                       'CONFIG_XEN_BLKDEV_FRONTEND=y\n'
                       'CONFIG_XEN_NETDEV_FRONTEND=y\n', [], [])
        res = self.run_pv()
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn('xen-blkfront is built in', res.stdout)
        self.assertIn('xen-netfront is built in', res.stdout)
        self.assertEqual(self.calls(), [])
        self.assertNotIn('xen', (self.root / 'etc/initramfs-tools/modules')
                         .read_text())

    def test_initramfs_tools_modules_in_initramfs(self) -> None:
        self.make_root('initramfs-tools',
                       'CONFIG_XEN_BLKDEV_FRONTEND=m\n'
                       'CONFIG_XEN_NETDEV_FRONTEND=m\n',
                       [BLK, NET], [BLK, NET])
        res = self.run_pv()
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn('xen-blkfront is a module, present in /boot/initrd.img-'
                      + KVER, res.stdout)
        self.assertIn('xen-netfront is a module, present in', res.stdout)
        self.assertEqual(self.regenerations(), [])

    def test_initramfs_tools_modules_missing_are_added(self) -> None:
        self.make_root('initramfs-tools',
                       'CONFIG_XEN_BLKDEV_FRONTEND=m\n'
                       'CONFIG_XEN_NETDEV_FRONTEND=m\n',
                       [BLK, NET], [BLK])
        res = self.run_pv()
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn('xen-blkfront is a module, present in', res.stdout)
        self.assertIn('xen-netfront is a module, missing from the initramfs',
                      res.stdout)
        self.assertEqual(self.regenerations(),
                         ['update-initramfs -u -k ' + KVER])
        modules = (self.root / 'etc/initramfs-tools/modules').read_text()
        self.assertEqual(modules.splitlines()[1:], ['xen-netfront'])
        self.assertIn('now has xen-netfront', res.stdout)

        # A second run finds them and changes nothing.
        self.log.write_text('')
        res = self.run_pv()
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertEqual(self.regenerations(), [])
        self.assertEqual(
            (self.root / 'etc/initramfs-tools/modules').read_text(), modules)

    def test_initramfs_tools_no_initramfs_yet(self) -> None:
        self.make_root('initramfs-tools',
                       'CONFIG_XEN_BLKDEV_FRONTEND=m\n'
                       'CONFIG_XEN_NETDEV_FRONTEND=y\n', [BLK], [])
        (self.root / 'boot' / ('initrd.img-' + KVER)).unlink()
        res = self.run_pv()
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn('no initramfs found', res.stdout)
        self.assertEqual(self.regenerations(),
                         ['update-initramfs -u -k ' + KVER])
        self.assertIn('xen-blkfront', (self.root / 'etc/initramfs-tools/modules')
                      .read_text())

    # dracut (Fedora, CentOS, RHEL, SUSE)

    def test_dracut_built_in(self) -> None:
        # No config file: modules.builtin tells.
        self.make_root('dracut', None, [], [], builtin=[BLK, NET])
        res = self.run_pv()
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn('xen-blkfront is built in', res.stdout)
        self.assertIn('xen-netfront is built in', res.stdout)
        self.assertEqual(self.calls(), [])

    def test_dracut_modules_in_initramfs(self) -> None:
        mods = [BLK + '.xz', NET + '.xz']
        self.make_root('dracut',
                       'CONFIG_XEN_BLKDEV_FRONTEND=m\n'
                       'CONFIG_XEN_NETDEV_FRONTEND=m\n', mods, mods)
        res = self.run_pv()
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn('xen-blkfront is a module, present in /boot/initramfs-'
                      + KVER + '.img', res.stdout)
        self.assertIn('xen-netfront is a module, present in', res.stdout)
        self.assertEqual(self.regenerations(), [])
        self.assertFalse((self.root / 'etc/dracut.conf.d/xenserver-vhd.conf')
                         .exists())

    def test_dracut_modules_missing_are_added(self) -> None:
        mods = [BLK + '.xz', NET + '.xz']
        self.make_root('dracut',
                       'CONFIG_XEN_BLKDEV_FRONTEND=m\n'
                       'CONFIG_XEN_NETDEV_FRONTEND=m\n', mods, [])
        res = self.run_pv()
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn('xen-blkfront is a module, missing from the initramfs',
                      res.stdout)
        self.assertEqual(self.regenerations(), ['dracut -f --kver ' + KVER])
        conf = (self.root / 'etc/dracut.conf.d/xenserver-vhd.conf').read_text()
        self.assertIn('add_drivers+=" xen-blkfront xen-netfront "', conf)
        self.assertIn('now has xen-blkfront xen-netfront', res.stdout)

    @unittest.skipIf(shutil.which('update-initramfs'),
                     'this machine has a real update-initramfs on PATH')
    def test_debian_with_dracut(self) -> None:
        """Debian's dracut: initramfs-tools leftovers, initrd.img-VER name."""
        mods = [BLK, NET]
        self.make_root('dracut',
                       'CONFIG_XEN_BLKDEV_FRONTEND=m\n'
                       'CONFIG_XEN_NETDEV_FRONTEND=m\n', mods, [])
        (self.root / 'etc' / 'initramfs-tools').mkdir()
        (self.root / 'etc' / 'initramfs-tools' / 'modules').write_text('')
        boot = self.root / 'boot'
        (boot / ('initramfs-%s.img' % KVER)).rename(boot / ('initrd.img-' + KVER))
        _write_script(self.bin / 'lsinitramfs', FAKE_LIST)
        _write_script(self.bin / 'dracut', FAKE_DRACUT.replace(
            'initramfs-$3.img', 'initrd.img-$3'))
        res = self.run_pv()
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertEqual(self.regenerations(), ['dracut -f --kver ' + KVER])
        self.assertEqual(
            (self.root / 'etc/initramfs-tools/modules').read_text(), '')
        self.assertEqual({c.split()[0] for c in self.calls()},
                         {'lsinitrd', 'dracut'})
        self.assertIn('/boot/initrd.img-%s now has xen-blkfront xen-netfront'
                      % KVER, res.stdout)

    # both

    def test_driver_absent_fails(self) -> None:
        self.make_root('initramfs-tools',
                       'CONFIG_XEN_BLKDEV_FRONTEND=y\n'
                       '# CONFIG_XEN_NETDEV_FRONTEND is not set\n', [], [])
        res = self.run_pv()
        self.assertNotEqual(res.returncode, 0, res.stdout)
        self.assertIn('has no xen-netfront', res.stdout)
        self.assertEqual(self.regenerations(), [])

    def test_still_missing_after_regenerating_fails(self) -> None:
        self.make_root('initramfs-tools',
                       'CONFIG_XEN_BLKDEV_FRONTEND=m\n'
                       'CONFIG_XEN_NETDEV_FRONTEND=y\n', [BLK], [])
        # A generator that runs but leaves the module out.
        _write_script(self.bin / 'update-initramfs',
                      '#!/bin/bash\necho "update-initramfs $*" >> "$FAKE_LOG"\n')
        res = self.run_pv()
        self.assertNotEqual(res.returncode, 0, res.stdout)
        self.assertIn('xen-blkfront is still missing', res.stdout)

    def test_no_kernel_is_left_alone(self) -> None:
        self.root = self.tmp / 'root'
        (self.root / 'etc').mkdir(parents=True)
        res = self.run_pv()
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn('no kernel installed', res.stdout)
        self.assertEqual(self.calls(), [])


class BootLoaderHookTest(_HookTestCase):
    """finalise.d/90-xenserver-vhd-boot-loader: a warning, never a failure."""

    def run_boot(self, *files: str) -> subprocess.CompletedProcess:
        root = self.tmp / 'root'
        (root / 'boot').mkdir(parents=True)
        for name in files:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text('x')
        return self.run_hook(BOOT_HOOK, {'XENSERVER_VHD_ROOT': str(root)})

    def test_no_boot_loader_warns_naming_the_element(self) -> None:
        res = self.run_boot('boot/vmlinuz-6.1.0-1-amd64')
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertRegex(res.stdout, r'^WARNING: xenserver-vhd: the image '
                                     r'has no boot loader .*Add the "vm" '
                                     r'element')
        self.assertEqual(len(res.stdout.splitlines()), 1)

    def test_each_boot_loader_is_found(self) -> None:
        for config in ('boot/grub/grub.cfg', 'boot/extlinux/extlinux.conf',
                       'boot/efi/EFI/BOOT/BOOTX64.EFI'):
            with self.subTest(config=config):
                shutil.rmtree(self.tmp / 'root', ignore_errors=True)
                res = self.run_boot(config)
                self.assertEqual(res.returncode, 0, res.stdout)
                self.assertEqual(res.stdout.strip(), 'xenserver-vhd: boot '
                                 f'loader found: /{config}')


FAKE_DISKIMAGE_VHD = """\
#!/bin/bash
if [ "$1" = --version ]; then
    echo "vhd-util (diskimage-vhd) 0.1.0"
    exit 0
fi
if [ "$1" = target ]; then
    echo xenserver
    exit 0
fi
exit 1
"""

# blktap's vhd-util with the convert patch: "convert -h" prints the
# patch's usage and returns -EINVAL.
FAKE_PATCHED_BLKTAP = """\
#!/bin/bash
if [ "$1" = convert ]; then
    echo "options: <-i input file name> <-o output file name> <-s source"\\
" type(0 - raw, 1 - fixed, 2 - dynamic, 3 - differencing)> <-t target"\\
" type(0 - raw, 1 - fixed, 2 - dynamic, 3 - differencing)> [-h help]"
    exit 234
fi
echo "invalid COMMAND $1"
echo "usage: vhd-util COMMAND [OPTIONS]"
echo "COMMAND := { create | snapshot | query | read | set | repair |"\\
" resize | fill | coalesce | modify | scan | check | revert | convert }"
"""

# Stock blktap vhd-util: no convert command.
FAKE_STOCK_BLKTAP = """\
#!/bin/bash
echo "invalid COMMAND $1"
echo "usage: vhd-util COMMAND [OPTIONS]"
echo "COMMAND := { create | snapshot | query | read | set | repair |"\\
" resize | fill | coalesce | modify | scan | check | revert }"
"""


class CheckVhdUtilHookTest(_HookTestCase):
    """root.d/01-xenserver-vhd-check-vhd-util with fake vhd-utils."""

    def fake_vhd_util(self, text: str) -> None:
        _write_script(self.bin / 'vhd-util', text)

    def check(self, image_types: str) -> subprocess.CompletedProcess:
        start = time.monotonic()
        res = self.run_hook(CHECK_HOOK, {'IMAGE_TYPES': image_types})
        # The point of the hook is to stop a build within seconds.
        self.assertLess(time.monotonic() - start, 10)
        return res

    def test_diskimage_vhd_passes(self) -> None:
        self.fake_vhd_util(FAKE_DISKIMAGE_VHD)
        res = self.check('raw,vhd')
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn("is diskimage-vhd's vhd-util", res.stdout)

    def test_patched_blktap_passes(self) -> None:
        self.fake_vhd_util(FAKE_PATCHED_BLKTAP)
        res = self.check('vhd')
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn('convert patch', res.stdout)

    def test_stock_blktap_fails_with_install_hint(self) -> None:
        self.fake_vhd_util(FAKE_STOCK_BLKTAP)
        res = self.check('raw vhd')
        self.assertNotEqual(res.returncode, 0, res.stdout)
        self.assertIn('has no "convert" command', res.stdout)
        self.assertIn(INSTALL_HINT, res.stdout)

    def test_missing_vhd_util_fails(self) -> None:
        res = self.check('vhd')
        self.assertNotEqual(res.returncode, 0, res.stdout)
        self.assertIn('no vhd-util on PATH', res.stdout)
        self.assertIn(INSTALL_HINT, res.stdout)

    def test_no_vhd_output_is_not_checked(self) -> None:
        self.fake_vhd_util(FAKE_STOCK_BLKTAP)
        res = self.check('qcow2,raw')
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn('not checking vhd-util', res.stdout)

    def run_as_dib(self, *args: str) -> subprocess.CompletedProcess:
        """Run the hook under a process whose command line is DIB's.

        disk-image-create cannot export its output types (a bash array),
        so the hook reads ``-t`` from its ancestor's command line.
        """
        dib = self.tmp / 'disk-image-create'
        _write_script(dib, '#!/bin/bash\n"%s"\n' % CHECK_HOOK)
        return self.run_hook(CHECK_HOOK, argv=['bash', str(dib)] + list(args))

    def test_reads_types_from_disk_image_create(self) -> None:
        self.fake_vhd_util(FAKE_STOCK_BLKTAP)
        for args, fails in (
                (['-t', 'raw,vhd', '-o', 'img', 'debian-minimal'], True),
                (['-o', 'img', '-tvhd', 'debian-minimal'], True),
                (['-xut', 'vhd', 'debian-minimal'], True),
                (['--image-size', '2', '-t', 'qcow2', 'vhd'], False),
                (['-o', 'vhd', 'debian-minimal'], False),
                (['debian-minimal', '--', '-t', 'vhd'], False)):
            with self.subTest(args=args):
                res = self.run_as_dib(*args)
                self.assertEqual(res.returncode != 0, fails, res.stdout)

    def test_real_drop_in_passes(self) -> None:
        _write_script(self.bin / 'vhd-util', textwrap.dedent("""\
            #!/bin/bash
            exec "%s" -c 'import sys
            from diskimage_vhd.vhdutil.cli import main
            sys.argv[0] = "vhd-util"
            sys.exit(main())' "$@"
            """ % sys.executable))
        res = self.check('raw,vhd')
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn("is diskimage-vhd's vhd-util", res.stdout)

    def real_drop_in(self) -> None:
        _write_script(self.bin / 'vhd-util', textwrap.dedent("""\
            #!/bin/bash
            exec "%s" -c 'import sys
            from diskimage_vhd.vhdutil.cli import main
            sys.argv[0] = "vhd-util"
            sys.exit(main())' "$@"
            """ % sys.executable))

    def test_real_drop_in_names_the_target(self) -> None:
        self.real_drop_in()
        for value, named in (('', 'xenserver'), ('azure', 'azure'),
                             ('Rackspace', 'rackspace'), ('none', 'none')):
            with self.subTest(value=value):
                res = self.run_hook(CHECK_HOOK, {'IMAGE_TYPES': 'vhd',
                                                 'DIB_VHD_TARGET': value})
                self.assertEqual(res.returncode, 0, res.stdout)
                self.assertIn(f'made and checked for {named} '
                              '(DIB_VHD_TARGET)', res.stdout)

    def test_real_drop_in_rejects_an_unknown_target_early(self) -> None:
        self.real_drop_in()
        res = self.run_hook(CHECK_HOOK, {'IMAGE_TYPES': 'vhd',
                                         'DIB_VHD_TARGET': 'azur'})
        self.assertEqual(res.returncode, 1, res.stdout)
        self.assertIn("ERROR: xenserver-vhd: vhd-util: DIB_VHD_TARGET: "
                      "'azur' is not one of xenserver, rackspace, azure, "
                      'none', res.stdout)

    def test_blktap_refuses_a_target(self) -> None:
        self.fake_vhd_util(FAKE_PATCHED_BLKTAP)
        res = self.run_hook(CHECK_HOOK, {'IMAGE_TYPES': 'vhd',
                                         'DIB_VHD_TARGET': 'azure'})
        self.assertEqual(res.returncode, 1, res.stdout)
        self.assertIn("DIB_VHD_TARGET=azure needs diskimage-vhd's vhd-util",
                      res.stdout)


if __name__ == '__main__':
    unittest.main()
