"""The console scripts end their process cheaply; ``main`` stays an API."""

from __future__ import annotations

import sys
import unittest

from tests import base

# Runs one entry point (argv[1]) on a missing file (argv[2:]), then prints,
# last, its status and whether the cycle collector's objects are frozen.
PROBE = '''
import gc, importlib, sys
module, name = sys.argv[1].split(':')
entry = getattr(importlib.import_module(module), name)
sys.argv = [name] + sys.argv[2:]
status = entry() if name == 'script' else entry(sys.argv[1:])
print(status, gc.get_freeze_count() > 0)
'''
ARGS = {'diskimage_vhd.cli.commands': ('check', '/nonexistent/disk.vhd'),
        'diskimage_vhd.vhdutil.cli': ('check', '-n', '/nonexistent/disk.vhd')}


class ConsoleScriptTest(unittest.TestCase):

    def probe(self, entry: str) -> list:
        """The entry point's exit status and whether objects are frozen."""
        args = ARGS[entry.split(':')[0]]
        result = base.run([sys.executable, '-c', PROBE, entry, *args],
                          cwd=base.REPO_ROOT)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn('Traceback', result.stderr)
        return result.stdout.splitlines()[-1].split()

    def assertFrozen(self, entry: str, frozen: str) -> None:
        """Each command's ``entry`` fails on the missing file, and leaves the
        collector's objects frozen (``'True'``) or not (``'False'``).
        """
        for module in ARGS:
            with self.subTest(module):
                status, found = self.probe(f'{module}:{entry}')
                self.assertNotEqual(status, '0')
                self.assertEqual(found, frozen)

    def test_scripts_freeze_what_the_imports_made(self) -> None:
        """Issue 12: at exit Python's collector would walk every object the
        imports made (20 ms of a 100 ms conversion); the scripts freeze
        them once ``main`` has returned its status.
        """
        self.assertFrozen('script', 'True')

    def test_main_leaves_the_collector_alone(self) -> None:
        """Callers that live on (the fuzz campaign, the API's users) call
        ``main`` many times: frozen cycles would never be freed.
        """
        self.assertFrozen('main', 'False')


if __name__ == '__main__':
    unittest.main()
