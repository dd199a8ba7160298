"""The user guide's synopsis (also the man page's) names every command and
every option the parser has, and nothing it lacks."""

from __future__ import annotations

import argparse
import os
import re
import unittest

from diskimage_vhd.cli import commands
from tests import base

USER_GUIDE = os.path.join(base.REPO_ROOT, 'doc', 'source', 'user-guide.rst')
LINE = re.compile(r'^\| ``diskimage-vhd (\S+)(.*)``$')
OPTION = re.compile(r'(?<![\w-])(--?[a-z][\w-]*)')


def synopsis() -> dict[str, set[str]]:
    """Each command of the synopsis, with the options written on its line."""
    found = {}
    with open(USER_GUIDE) as f:
        for line in f:
            match = LINE.match(line.rstrip('\n'))
            if match:
                found[match.group(1)] = set(OPTION.findall(match.group(2)))
    return found


def _options(parser: argparse.ArgumentParser) -> set[frozenset[str]]:
    """Each option of ``parser`` but --help, as the set of its spellings."""
    return {frozenset(action.option_strings) for action in parser._actions
            if action.option_strings and action.dest != 'help'}


class TestSynopsis(unittest.TestCase):

    def setUp(self) -> None:
        self.parser = commands._parser()
        self.commands = next(
            action for action in self.parser._actions
            if isinstance(action, argparse._SubParsersAction)).choices
        self.synopsis = synopsis()

    def test_every_command_has_a_line(self) -> None:
        self.assertEqual(set(self.synopsis) - {'--version'},
                         set(self.commands))
        self.assertIn('--version', self.synopsis)  # the top-level option

    def test_every_option_is_named(self) -> None:
        for name, parser in self.commands.items():
            written = self.synopsis.get(name, set())
            for spellings in _options(parser):
                with self.subTest(command=name, option=sorted(spellings)):
                    self.assertTrue(spellings & written,
                                    f'{name}: {sorted(spellings)} missing '
                                    'from the synopsis')

    def test_no_option_the_parser_lacks(self) -> None:
        for name, written in self.synopsis.items():
            if name not in self.commands:
                continue
            known = set().union(*_options(self.commands[name]))
            self.assertEqual(written - known, set(), name)
