"""The commands' help follows the terminal's width exactly as argparse's own
formatter would (cli/parsing.py asks the width without ``shutil``)."""

from __future__ import annotations

import argparse
import os
import unittest
from unittest import mock

from diskimage_vhd.cli import commands


def convert_help(formatter: type) -> str:
    parser = commands._parser()
    sub = next(action for action in parser._actions
               if isinstance(action, argparse._SubParsersAction))
    convert = sub.choices['convert']
    convert.formatter_class = formatter
    return convert.format_help()


class TestHelpWidth(unittest.TestCase):

    def test_as_argparse_at_any_width(self) -> None:
        for columns in ('50', '80', '200'):
            with mock.patch.dict(os.environ, COLUMNS=columns):
                ours = convert_help(commands.Parser(prog='x').formatter_class)
                self.assertEqual(convert_help(argparse.HelpFormatter), ours)
                self.assertIn('SOURCE', ours)
        with mock.patch.dict(os.environ, COLUMNS='50'):
            narrow = convert_help(commands.Parser(prog='x').formatter_class)
        self.assertGreater(narrow.count('\n'), ours.count('\n'))
