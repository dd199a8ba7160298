#!/usr/bin/env python3
"""Benchmark diskimage-vhd against ``qemu-img convert -O vpc`` and ``cp``.

Makes its own seeded workloads, runs every tool on each as a user would (a
child process, warm page cache), alternating tools, and prints the median
wall time, the child's peak RSS and the output sizes, with ratios to
qemu-img.  Each diskimage-vhd output is checked with ``qemu-img compare``
once per workload, outside the timed runs.  It is a benchmark, not a test:
it asserts nothing about time.

    python3 tools/benchmark.py                 # every workload, 5 runs
    python3 tools/benchmark.py --quick --runs 1
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import signal
import sys
import sysconfig
import tempfile
from typing import Dict, List, Optional, Sequence

from vhdbench.measure import check_call
from vhdbench.measure import Command
from vhdbench.measure import remove
from vhdbench.measure import run_timed
from vhdbench.measure import Sample
from vhdbench.measure import settle
from vhdbench.measure import ToolFailed
from vhdbench.report import CP
from vhdbench.report import QEMU
from vhdbench.report import render
from vhdbench.report import Result
from vhdbench import workloads

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIB = 'vhd-util (DIB steps)'
# qemu-img convert never syncs by default; -t none (O_DIRECT, then a flush)
# is its durable mode, the fair match for diskimage-vhd, which must fsync.
QEMU_DURABLE = 'qemu-img -t none'
REPRODUCIBLE = 'diskimage-vhd, SOURCE_DATE_EPOCH'
ISSUE_EPOCH = '1764105425'


@dataclasses.dataclass
class Tool:
    """How to run one tool on a workload, and which file it leaves."""

    name: str
    commands: List[Command]
    output: str
    env: Dict[str, str]
    verify: bool = False  # a diskimage-vhd output: qemu-img compare it


def _console_script(name: str, module: str) -> List[str]:
    """The installed console script, else ``python -m``; either way the
    package is imported from this checkout (see ``_environment``).
    """
    script = os.path.join(sysconfig.get_path('scripts'), name)
    if os.access(script, os.X_OK):
        return [script]
    return [sys.executable, '-m', module]


def _environment(**extra: str) -> Dict[str, str]:
    """The caller's environment, minus what would change the tools' work.

    This checkout comes first on ``PYTHONPATH``, so the code measured is the
    code beside this script even if another copy is installed.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in ('SOURCE_DATE_EPOCH', 'DIB_VHD_ALLOCATE_ALL',
                        'DIB_VHD_MAX_SIZE')}
    env['PYTHONPATH'] = os.pathsep.join(
        filter(None, [REPO, env.get('PYTHONPATH')]))
    env.update(extra)
    return env


def has_vhd_util() -> bool:
    """Whether the ``vhd-util`` drop-in has landed in this checkout."""
    return os.path.exists(os.path.join(REPO, 'diskimage_vhd', 'vhdutil',
                                       'cli.py'))


def tools_for(key: str, workload: workloads.Workload, out: str) -> List[Tool]:
    """The tools compared on a workload; ``d`` runs DIB's steps on ``a``."""
    source = workload.path
    plain = _environment()
    dvhd = _console_script('diskimage-vhd', 'diskimage_vhd')
    tools = [
        Tool(QEMU, [['qemu-img', 'convert', '-f', 'raw', '-O', 'vpc', source,
                     f'{out}.qemu.vhd']], f'{out}.qemu.vhd', plain),
        Tool(CP, [['cp', '--sparse=always', source, f'{out}.cp.raw']],
             f'{out}.cp.raw', plain),
    ]
    if key == 'd':
        vhd_util = _console_script('vhd-util', 'diskimage_vhd.vhdutil')
        work = f'{out}.dib-intermediate'
        tools.insert(0, Tool(DIB, [
            ['cp', source, work],
            [*vhd_util, 'convert', '-s', '0', '-t', '1', '-i', work, '-o', work],
            [*vhd_util, 'convert', '-s', '1', '-t', '2', '-i', work, '-o',
             f'{out}.dib.vhd'],
            ['rm', f'{work}.bak'],
        ], f'{out}.dib.vhd', plain, verify=True))
        return tools
    tools.insert(0, Tool('diskimage-vhd', [
        [*dvhd, 'convert', source, f'{out}.vhd']], f'{out}.vhd', plain,
        verify=True))
    if key in ('a', 'b'):
        tools.insert(2, Tool(QEMU_DURABLE, [
            ['qemu-img', 'convert', '-t', 'none', '-f', 'raw', '-O', 'vpc',
             source, f'{out}.qemu-durable.vhd']], f'{out}.qemu-durable.vhd',
            plain))
    if key == 'a':
        tools.insert(1, Tool(REPRODUCIBLE, [
            [*dvhd, 'convert', source, f'{out}.sde.vhd']], f'{out}.sde.vhd',
            _environment(SOURCE_DATE_EPOCH=ISSUE_EPOCH), verify=True))
    return tools


def sizes_of(path: str) -> tuple:
    st = os.stat(path)
    return st.st_size, st.st_blocks * 512


def verify(key: str, tool: Tool, workload: workloads.Workload) -> None:
    """``qemu-img compare``: the VHD must read back as the raw input."""
    check_call(['qemu-img', 'compare', '-f', 'raw', '-F', 'vpc',
                workload.path, tool.output])
    print(f'verified: {key} {tool.name}: output identical to the input '
          '(qemu-img compare)', flush=True)


def once(tool: Tool) -> Sample:
    """One timed run from a clean slate: no old output, no dirty pages."""
    remove(tool.output)
    settle()
    return run_timed(tool.commands, env=tool.env)


def bench_workload(key: str, workload: workloads.Workload, tools: List[Tool],
                   runs: int) -> List[Result]:
    """A warm-up of every tool, a check of ours, then alternating runs."""
    samples: Dict[str, List[Sample]] = {t.name: [] for t in tools}
    for tool in tools:
        once(tool)
        if tool.verify:
            verify(key, tool, workload)
    for run in range(runs):
        shift = run % len(tools)  # rotate, so no tool always runs first
        for tool in tools[shift:] + tools[:shift]:
            samples[tool.name].append(once(tool))
    results = []
    for tool in tools:
        apparent, allocated = sizes_of(tool.output)
        results.append(Result(key, tool.name, samples[tool.name], apparent,
                              allocated, vhd=tool.name != CP))
        remove(tool.output)
    return results


def default_workdir() -> str:
    """/var/tmp, or beside the checkout if /var/tmp is a tmpfs."""
    for candidate in ('/var/tmp', os.path.dirname(REPO)):
        if os.path.isdir(candidate) and not _is_tmpfs(candidate):
            return candidate
    return tempfile.gettempdir()


def _is_tmpfs(path: str) -> bool:
    best, kind = '', ''
    real = os.path.realpath(path)
    with open('/proc/self/mounts') as mounts:
        for line in mounts:
            fields = line.split()
            point = fields[1]
            if (real == point or real.startswith(point.rstrip('/') + '/')) \
                    and len(point) >= len(best):
                best, kind = point, fields[2]
    return kind in ('tmpfs', 'ramfs')


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--runs', type=int, default=5,
                        help='timed runs per tool, after one warm-up '
                             '(default: %(default)s)')
    parser.add_argument('--workloads', default='a,b,c,d',
                        help='which of a (DIB-like), b (dense), c (empty), '
                             'd (DIB steps through vhd-util) to run '
                             '(default: %(default)s)')
    parser.add_argument('--quick', action='store_true',
                        help='small workloads, for a smoke run')
    parser.add_argument('--workdir',
                        help='where to make the workloads (default: a new '
                             'directory in /var/tmp; avoid tmpfs unless '
                             'that is what you want to measure)')
    parser.add_argument('--seed', type=int, default=4,
                        help='seed of the workloads (default: %(default)s)')
    args = parser.parse_args(argv)
    args.workloads = [k.strip() for k in args.workloads.split(',') if k.strip()]
    unknown = set(args.workloads) - set('abcd')
    if unknown or args.runs < 1:
        parser.error(f'unknown workloads {sorted(unknown)}' if unknown
                     else '--runs must be at least 1')
    return args


def _interrupted(number: int, frame: object) -> None:
    raise KeyboardInterrupt(f'signal {number}')


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    # Started in the background, SIGINT may be ignored: let SIGTERM (and
    # SIGINT) still clean the work directory up.
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, _interrupted)
    if shutil.which('qemu-img') is None:
        print('benchmark: qemu-img is needed (apt install qemu-utils)',
              file=sys.stderr)
        return 2
    sizes = workloads.QUICK if args.quick else workloads.FULL
    keys = list(args.workloads)
    if 'd' in keys and not has_vhd_util():
        print('benchmark: skipping d: the vhd-util drop-in is not here yet',
              file=sys.stderr)
        keys.remove('d')
    workdir = tempfile.mkdtemp(prefix='diskimage-vhd-bench-',
                               dir=args.workdir or default_workdir())
    try:
        return _run(keys, sizes, args, workdir)
    except ToolFailed as error:
        print(f'benchmark: FAILED: {error}', file=sys.stderr)
        return 1
    except KeyboardInterrupt as error:
        print(f'benchmark: interrupted ({error}); work directory removed',
              file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(keys: List[str], sizes: workloads.Sizes, args: argparse.Namespace,
         workdir: str) -> int:
    print(f'workdir: {workdir}; {args.runs} timed runs per tool after a '
          'warm-up; medians', flush=True)
    made: Dict[str, workloads.Workload] = {}
    results: List[Result] = []
    for key in keys:
        source = 'a' if key == 'd' else key
        if source not in made:
            made[source] = workloads.MAKERS[source](
                os.path.join(workdir, f'{source}.raw'), sizes, args.seed)
            settle()
        workload = made[source]
        label = (workload.describe() if key != 'd' else
                 'd) DIB steps (cp; vhd-util convert 0->1, 1->2; rm .bak) '
                 'on a')
        print(label, flush=True)
        tools = tools_for(key, workload, os.path.join(workdir, f'out-{key}'))
        results += bench_workload(key, workload, tools, args.runs)
        if key != 'a' or 'd' not in keys:
            remove(workload.path)
    print()
    print(render(results))
    return 0


if __name__ == '__main__':
    sys.exit(main())
