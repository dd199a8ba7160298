#!/usr/bin/env python3
"""Benchmark diskimage-vhd against ``qemu-img convert -O vpc`` and ``cp``.

Makes its own seeded workloads, runs every tool on each as a user would (a
child process), alternating tools, and prints the median wall time (and
the fastest and slowest run), the child's peak RSS and the output sizes,
with ratios to qemu-img, then each
performance target with the ratio it is judged by and whether it is met.
Each mode is judged against the peer in the same mode: the default (no
flush) against ``qemu-img convert -O vpc`` and ``cp --sparse=always``;
``--sync`` against ``qemu-img convert -t writeback`` and ``cp`` followed
by ``sync -f``.
The cold rows take the input's pages out of the page cache before every
run; how long each tool takes to start from an empty page cache is
printed last (root only).  Between runs the benchmark holds a reserve of
memory and lets it go just before each run, so that every run finds the
same free memory (``vhdbench.measure.MemoryReserve``).  Rows that need
root (loop-mounted XFS and btrfs) are skipped with a line saying why.
Each diskimage-vhd output is checked with ``qemu-img compare`` once per
row, outside the timed runs.  It is a benchmark, not a test: it asserts
nothing about time.

    python3 tools/benchmark.py                 # every row, 5 runs
    python3 tools/benchmark.py --quick --runs 1
    python3 tools/benchmark.py --rows a,b,c --runs 3
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import signal
import statistics
import sys
import tempfile
from types import FrameType
from typing import Dict, List, Optional, Sequence

from diskimage_vhd.posix import signals
from vhdbench import filesystems
from vhdbench.measure import check_call
from vhdbench.measure import drop_caches
from vhdbench.measure import MemoryReserve
from vhdbench.measure import remove
from vhdbench.measure import run_timed
from vhdbench.measure import Sample
from vhdbench.measure import settle
from vhdbench.measure import ToolFailed
from vhdbench.report import render
from vhdbench.report import Result
from vhdbench import targets
from vhdbench.tools import has_vhd_util
from vhdbench.tools import REPO
from vhdbench.tools import start_up_commands
from vhdbench.tools import Tool
from vhdbench.tools import tools_for
from vhdbench import workloads

GiB = workloads.GiB
MiB = workloads.MiB


@dataclasses.dataclass(frozen=True)
class Row:
    """A group of tools timed on one workload, in one condition."""

    source: str  # the workload's key in workloads.MAKERS
    kind: str  # which tools: see vhdbench.tools.tools_for
    note: str = ''
    cold: bool = False  # evict the input's pages before every run
    filesystem: str = ''  # make the workload on a loop-mounted one of these
    shared: bool = True  # the row is about the file system: measure df
    max_runs: int = 0  # a cap on --runs for a slow row (0: none)
    # Copies of the data one run writes: its output, and for DIB's steps
    # their copy of the disk.  A cold run also reads the input into memory.
    copies: int = 1


ROWS: Dict[str, Row] = {
    'a': Row('a', 'reproducible'),
    'a-cold': Row('a', 'cold', "the input's pages evicted before every "
                  'run', cold=True),
    'd': Row('a', 'dib', "DIB's steps on a: cp; vhd-util convert 0->1, "
             '1->2; rm .bak; and the same with qemu-img for the two '
             'converts (cp; qemu-img convert; rm the copy)', copies=2),
    'b': Row('b', 'durable'),
    'b-cold': Row('b', 'cold', "the input's pages evicted before every "
                  'run', cold=True),
    'c': Row('c', 'plain'),
    'z': Row('z', 'plain'),
    'e': Row('e', 'extents', 'on a loop-mounted ext4 without discard, where '
             'removing an output between runs is quick', filesystem='ext4',
             shared=False, max_runs=3),
    'a-xfs': Row('a', 'plain', 'on a loop-mounted XFS', filesystem='xfs'),
    'a-btrfs': Row('a', 'plain', 'on a loop-mounted btrfs',
                   filesystem='btrfs'),
}


def skip_reason(key: str) -> Optional[str]:
    """Why row ``key`` cannot run on this machine, or None."""
    row = ROWS[key]
    if row.kind == 'dib' and not has_vhd_util():
        return 'the vhd-util drop-in is not here yet'
    if row.filesystem and row.shared:
        return filesystems.unavailable(row.filesystem)
    return None


def _on_filesystem(key: str) -> bool:
    """Whether row ``key`` runs on its own loop-mounted file system; the
    many-extents row runs in the work directory when it cannot.
    """
    row = ROWS[key]
    if not row.filesystem:
        return False
    if filesystems.unavailable(row.filesystem):
        print(f'benchmark: {key} runs in the work directory: '
              f'{filesystems.unavailable(row.filesystem)}', file=sys.stderr)
        return False
    return True


def sizes_of(path: str) -> tuple:
    st = os.stat(path)
    return st.st_size, st.st_blocks * 512


def verify(key: str, tool: Tool, workload: workloads.Workload) -> None:
    """``qemu-img compare``: the VHD must read back as the raw input."""
    check_call(['qemu-img', 'compare', '-f', 'raw', '-F', 'vpc',
                workload.path, tool.output])
    print(f'verified: {key} {tool.name}: output identical to the input '
          '(qemu-img compare)', flush=True)


def once(tool: Tool, evict: Sequence[str], reserve: MemoryReserve
         ) -> Sample:
    """One timed run: no dirty pages, the files in ``evict`` out of the page
    cache, and the reserve's recently used memory free for it.
    """
    settle(evict)
    reserve.release()
    return run_timed(tool.commands, env=tool.env)


def clear(tool: Tool, reserve: MemoryReserve) -> None:
    """Remove what a run made, and give its memory back to the reserve at
    once (``MemoryReserve``).
    """
    for path in [tool.output, *tool.scratch]:
        remove(path)
    reserve.hold()


def bench_row(key: str, workload: workloads.Workload, tools: List[Tool],
              runs: int, reserve: MemoryReserve,
              fs: Optional[filesystems.LoopFilesystem] = None
              ) -> List[Result]:
    """A warm-up of every tool (checked, and its output measured), then
    alternating runs.
    """
    row = ROWS[key]
    evict = [workload.path] if row.cold else []
    # What one run takes: the copies it writes, the input it reads from
    # the disk (cold), and the process.
    in_memory = row.copies + (1 if row.cold else 0)
    reserve.resize(in_memory * workload.data_bytes + 512 * MiB)
    reserve.hold()
    samples: Dict[str, List[Sample]] = {t.name: [] for t in tools}
    results: Dict[str, Result] = {}
    for tool in tools:
        once(tool, evict, reserve)
        if tool.verify:
            verify(key, tool, workload)
        apparent, allocated = sizes_of(tool.output)
        fs_used = None
        if fs is not None and row.shared:
            # What the output takes: df with it and without.
            with_output = fs.used()
            remove(tool.output)
            fs_used = with_output - fs.used()
        results[tool.name] = Result(  # the runs below fill its samples
            key, tool.name, samples[tool.name], apparent, allocated,
            vhd=not tool.output.endswith('.raw'),
            data_bytes=workload.data_bytes, fs_used=fs_used)
        clear(tool, reserve)
    for run in range(runs):
        shift = run % len(tools)  # rotate, so no tool always runs first
        for tool in tools[shift:] + tools[:shift]:
            samples[tool.name].append(once(tool, evict, reserve))
            clear(tool, reserve)
    return list(results.values())


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
    parser.add_argument('--workloads', '--rows', default=','.join(ROWS),
                        help='which rows to run, of a (DIB-like), a-cold, '
                             'd (DIB steps on a), b (dense), b-cold, '
                             'c (empty), z (written zeros), e (small '
                             'extents), a-xfs, a-btrfs (default: all)')
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
    unknown = set(args.workloads) - set(ROWS)
    if unknown or args.runs < 1:
        parser.error(f'unknown rows {sorted(unknown)}' if unknown
                     else '--runs must be at least 1')
    return args


def _interrupted(number: int, frame: Optional[FrameType]) -> None:
    if signals.swallowed_here(frame):  # e.g. in Popen.__del__
        signals.deliver_later(_interrupted)
        return
    raise KeyboardInterrupt(f'signal {number}')


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    # Started in the background, SIGINT may be ignored: let SIGTERM (and
    # SIGINT) still clean the work directory and the mounts up.
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, _interrupted)
    if shutil.which('qemu-img') is None:
        print('benchmark: qemu-img is needed (apt install qemu-utils)',
              file=sys.stderr)
        return 2
    sizes = workloads.QUICK if args.quick else workloads.FULL
    keys = []
    for key in args.workloads:
        reason = skip_reason(key)
        if reason:
            print(f'benchmark: skipping {key}: {reason}', file=sys.stderr)
        else:
            keys.append(key)
    workdir = tempfile.mkdtemp(prefix='diskimage-vhd-bench-',
                               dir=args.workdir or default_workdir())
    use_bytecode_cache(os.path.join(workdir, 'pycache'))
    mounts: List[filesystems.LoopFilesystem] = []
    try:
        return _run(keys, sizes, args, workdir, mounts)
    except ToolFailed as error:
        print(f'benchmark: FAILED: {error}', file=sys.stderr)
        return 1
    except KeyboardInterrupt as error:
        print(f'benchmark: interrupted ({error}); work directory removed',
              file=sys.stderr)
        return 130
    finally:
        # A second signal must not stop the clean-up half way.
        signal.pthread_sigmask(signal.SIG_BLOCK,
                               {signal.SIGINT, signal.SIGTERM})
        for fs in mounts:
            try:
                fs.close()
            except ToolFailed as error:
                print(f'benchmark: {error}', file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)


def use_bytecode_cache(where: str) -> None:
    """Let the tools' Python cache its bytecode, in the work directory.

    An installed package has its ``.pyc`` files, compiled by pip; with
    ``PYTHONDONTWRITEBYTECODE`` set (as on some build machines) every start
    of the checkout's code would compile it again, ~0.1 s of each run.  The
    cache is filled by the untimed warm-up runs and removed with the work
    directory.
    """
    os.environ.pop('PYTHONDONTWRITEBYTECODE', None)
    os.environ['PYTHONPYCACHEPREFIX'] = where


def _label(key: str, workload: workloads.Workload) -> str:
    row = ROWS[key]
    if row.kind == 'dib':
        return f'{key}) {row.note}'
    text = workload.describe(key)
    return f'{text}; {row.note}' if row.note else text


def _run(keys: List[str], sizes: workloads.Sizes, args: argparse.Namespace,
         workdir: str, mounts: List[filesystems.LoopFilesystem]) -> int:
    print(f'workdir: {workdir}; {args.runs} timed runs per tool after a '
          'warm-up; medians', flush=True)
    made: Dict[str, workloads.Workload] = {}
    reserve = MemoryReserve()
    results: List[Result] = []
    for index, key in enumerate(keys):
        row = ROWS[key]
        fs = None
        where = workdir
        if _on_filesystem(key):
            if row.shared:  # the workload, and outputs that may share
                size = max(GiB, 4 * sizes.dib_data)
            else:  # the input and every tool's output side by side (the
                # VHDs take more than the data: a bitmap page a block, and
                # whole clusters for qemu-img), prewritten
                size = max(64 * MiB, 16 * sizes.extents * workloads.PAGE)
            fs = filesystems.LoopFilesystem(row.filesystem, workdir, size,
                                            prefill=not row.shared)
            mounts.append(fs)
            where = fs.mountpoint
        if fs is not None or row.source not in made:
            workload = workloads.MAKERS[row.source](
                os.path.join(where, f'{row.source}.raw'), sizes, args.seed)
            settle()
            if fs is None:
                made[row.source] = workload
        else:
            workload = made[row.source]
        print(_label(key, workload), flush=True)
        tools = tools_for(row.kind, workload.path,
                          os.path.join(where, f'out-{key}'))
        runs = min(args.runs, row.max_runs or args.runs)
        results += bench_row(key, workload, tools, runs, reserve, fs)
        if fs is not None:
            fs.close()
        elif not any(ROWS[k].source == row.source and not ROWS[k].filesystem
                     for k in keys[index + 1:]):
            remove(workload.path)
            del made[row.source]
    print()
    print(render(results))
    print()
    print("Targets, each mode against the peer in the same mode (medians of "
          "this run):")
    print(targets.render(results))
    print()
    print(start_up_line())
    return 0


def start_up_line(runs: int = 3) -> str:
    """How long each tool takes to start when its own files are not in the
    page cache either: what the cold rows, which evict only the input,
    leave out (a tool run in a build finds itself cached).
    """
    medians = []
    for name, tool in start_up_commands().items():
        seconds = []
        for _ in range(runs):
            if not drop_caches():
                return ('start-up from an empty page cache: not measured '
                        '(dropping the page cache needs root)')
            seconds.append(run_timed(tool.commands, env=tool.env).seconds)
        medians.append(f'{name} {statistics.median(seconds):.3f} s')
    return ('start-up from an empty page cache (--version, median of '
            f'{runs}): ' + ', '.join(medians))


if __name__ == '__main__':
    sys.exit(main())
