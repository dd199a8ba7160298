"""The layers of doc/source/architecture.rst hold: each imports only from below.

``format`` is pure; ``posix`` knows nothing of VHD; reading (``image``) and
writing (``make``) sit on both; XenServer's view (``xen``) on those; the
command lines on top.  A plain conversion must not load XenServer's model
or the vhd-util drop-in at all.
"""

from __future__ import annotations

import ast
import os
import sys

from tests import base

PACKAGE = os.path.join(base.REPO_ROOT, 'diskimage_vhd')
# What each layer may import from the package, besides itself ('' is the
# package's own API, diskimage_vhd/__init__.py).
BELOW_IMAGE = {'errors', 'sizes', 'format', 'posix'}
ALLOWED = {
    'format': set(),
    'posix': {'errors'},
    'image': BELOW_IMAGE,
    'make': BELOW_IMAGE | {'image'},
    'xen': BELOW_IMAGE | {'image'},
    'console': BELOW_IMAGE,
    'cli': BELOW_IMAGE | {'image', 'make', 'xen', 'version', 'dib', '',
                          'console'},
    # The two command lines share their runner from beneath: neither
    # imports the other.
    'vhdutil': BELOW_IMAGE | {'image', 'make', 'xen', 'version', 'console'},
}


def package_imports(path: str):
    """The ``diskimage_vhd`` subpackages or modules a file imports."""
    with open(path, encoding='utf-8') as handle:
        tree = ast.parse(handle.read(), path)
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f'{node.module}.{a.name}'
                                     for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split('.')
            if parts[0] != 'diskimage_vhd':
                continue
            if len(parts) > 1 and _is_module(parts[1]):
                yield parts[1]
            else:
                yield ''  # the package's API, diskimage_vhd/__init__.py


def _is_module(name: str) -> bool:
    return (os.path.isdir(os.path.join(PACKAGE, name))
            or os.path.isfile(os.path.join(PACKAGE, name + '.py')))


class LayerTest(base.TempDirTestCase):

    def test_each_layer_imports_only_from_below(self) -> None:
        for layer, allowed in ALLOWED.items():
            folder = os.path.join(PACKAGE, layer)
            for root, _dirs, files in os.walk(folder):
                for name in files:
                    if not name.endswith('.py'):
                        continue
                    path = os.path.join(root, name)
                    used = set(package_imports(path)) - {layer}
                    with self.subTest(path=os.path.relpath(path, PACKAGE)):
                        self.assertLessEqual(used, allowed)

    def test_a_plain_conversion_loads_neither_xen_nor_vhdutil(self) -> None:
        raw = self.path('in.raw')
        base.make_raw(raw, 4 * base.MiB, [(0, b'data')])
        code = ('import sys, diskimage_vhd; '
                f'diskimage_vhd.convert({raw!r}, {raw + ".vhd"!r}); '
                'print(sorted(m for m in sys.modules '
                "if m.startswith(('diskimage_vhd.xen', "
                "'diskimage_vhd.vhdutil', 'diskimage_vhd.cli'))))")
        result = base.run([sys.executable, '-c', code], cwd=base.REPO_ROOT)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), '[]')
        self.assertTrue(os.path.getsize(raw + '.vhd'))

    def test_the_convert_command_loads_no_xenserver_rules(self) -> None:
        """XenServer's rules (most of the package) and pbr (the version)
        are imported only by what uses them: the start-up measures that
        doc/source/architecture.rst keeps for the 1 TiB empty target.
        """
        raw = self.path('in.raw')
        base.make_raw(raw, 4 * base.MiB, [(0, b'data')])
        code = ('import sys\n'
                'from diskimage_vhd.cli.commands import main\n'
                f'status = main(["convert", "-q", {raw!r}, {raw + ".vhd"!r}])\n'
                'print(" ".join(sorted(sys.modules)))\n'
                'sys.exit(status)\n')
        result = base.run([sys.executable, '-c', code], cwd=base.REPO_ROOT)
        self.assertEqual(result.returncode, 0, result.stderr)
        loaded = set(result.stdout.split())
        self.assertIn('diskimage_vhd.make.render', loaded)  # it did convert
        deferred = sorted(m for m in loaded
                          if m.startswith(('diskimage_vhd.xen', 'pbr')))
        self.assertEqual(deferred, [])
