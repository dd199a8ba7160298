#!/usr/bin/env python3
"""Long local fuzzing runs, beyond what the test suite's time box allows.

Default mode: the suite's structure-aware campaign (tests/fuzzing.py) for
as many cases and seconds as asked, under the same address-space limit,
printing each finding with the command that replays it.

``--atheris``: coverage-guided fuzzing with atheris (``pip install
atheris``), starting from the same seed disks; each input is written to a
file and fed to the same targets, and a finding aborts with atheris's crash
file.  Extra arguments after ``--`` go to libFuzzer (e.g. ``-max_total_time
=3600``).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from typing import List, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests import fuzzing  # noqa: E402


def run_atheris(seed: int, libfuzzer_args: List[str]) -> int:
    """Feed atheris's inputs to every target; raise on the first finding."""
    try:
        import atheris  # type: ignore
    except ImportError:
        print('atheris is not installed: pip install atheris', file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix='diskimage-vhd-atheris-')
    corpus = os.path.join(workdir, 'corpus')
    os.mkdir(corpus)
    for disk in fuzzing.load_seeds(random.Random(seed)):
        if len(disk.data) <= 1 << 20:
            with open(os.path.join(corpus, disk.name), 'wb') as handle:
                handle.write(disk.data)
    case = os.path.join(workdir, 'case.vhd')

    def one_input(data: bytes) -> None:
        with open(case, 'wb') as handle:
            handle.write(data)
        for name, function, every in fuzzing.TARGETS:
            if every != 1:  # the slow ones (commands, convert)
                continue
            problem, _elapsed = fuzzing.run_target(function, case)
            if problem:
                raise AssertionError(f'{name}: {problem}')

    fuzzing.limit_address_space()
    atheris.instrument_all()  # coverage of the package, already imported
    atheris.Setup([sys.argv[0], corpus, *libfuzzer_args], one_input)
    atheris.Fuzz()
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seed', type=int, default=None,
                        help='campaign seed (default: random, printed)')
    parser.add_argument('--cases', type=int, default=1000000)
    parser.add_argument('--seconds', type=float, default=3600.0)
    parser.add_argument('--atheris', action='store_true')
    parser.add_argument('rest', nargs='*', help='after --: libFuzzer options')
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    if args.atheris:
        return run_atheris(seed, args.rest)
    return fuzzing.main(['--seed', str(seed), '--cases', str(args.cases),
                         '--seconds', str(args.seconds)])


if __name__ == '__main__':
    sys.exit(main())
