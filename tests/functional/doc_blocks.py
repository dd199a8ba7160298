"""The literal blocks of the public docs, and which of them a user runs.

A block is what follows a paragraph ending in ``::``, a ``.. code-block::``
or a ``.. parsed-literal::``, indented deeper than that line.  Its kind says
how a user would use it: ``console`` (the lines after ``$ `` are commands,
the rest output), ``doctest`` (``>>>``), ``python``, ``shell``, or ``text``
(a picture, not something to run).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from typing import List

from tests import base

# Every document a user reads: the README, the element's README and the
# Sphinx tree.
DOCS = ['README.rst', 'diskimage_vhd/elements/xenserver-vhd/README.rst',
        *sorted(os.path.relpath(path, base.REPO_ROOT) for path in
                glob.glob(os.path.join(base.REPO_ROOT, 'doc/source/*.rst')))]

_OPENER = re.compile(r'^(\s*)(?:\.\. (code-block|parsed-literal)::\s*(\S*)'
                     r'|(?!\.\. ).*::\s*$)')


@dataclasses.dataclass
class Block:
    path: str   # relative to the repository
    line: int   # of the block's first line, 1-based
    kind: str
    text: str

    @property
    def where(self) -> str:
        return f'{self.path}:{self.line}'

    def commands(self) -> List[str]:
        """The shell to run: the whole block, or a console's ``$`` lines."""
        if self.kind == 'console':
            return [line[2:] for line in self.text.splitlines()
                    if line.startswith('$ ')]
        return [self.text]


def _kind(directive: str, language: str, text: str) -> str:
    first = text.lstrip().splitlines()[0]
    if directive == 'code-block' and language == 'text':
        return 'text'
    if first.startswith('>>>'):
        return 'doctest'
    if first.startswith('$ '):
        return 'console'
    if re.match(r'(import|from) \w', first):
        return 'python'
    return 'shell'


def blocks(path: str) -> List[Block]:
    """The literal blocks of one document, in order."""
    with open(os.path.join(base.REPO_ROOT, path)) as f:
        lines = f.read().splitlines()
    found = []
    index = 0
    while index < len(lines):
        opener = _OPENER.match(lines[index])
        index += 1
        if not opener:
            continue
        indent = len(opener.group(1))
        directive, language = opener.group(2) or '', opener.group(3) or ''
        # Directive options and the blank line before the content.
        while index < len(lines) and (
                not lines[index].strip()
                or (directive and lines[index].strip().startswith(':'))):
            index += 1
        start = index
        body = []
        while index < len(lines) and (
                not lines[index].strip()
                or len(lines[index]) - len(lines[index].lstrip()) > indent):
            body.append(lines[index])
            index += 1
        while body and not body[-1].strip():
            body.pop()
        if not body:
            continue
        margin = min(len(line) - len(line.lstrip())
                     for line in body if line.strip())
        text = '\n'.join(line[margin:] for line in body) + '\n'
        found.append(Block(path, start + 1, _kind(directive, language, text),
                           text))
    return found


def all_blocks() -> List[Block]:
    return [block for path in DOCS for block in blocks(path)]
