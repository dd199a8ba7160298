"""The results table: medians and ratios, printed as a reST simple table."""

from __future__ import annotations

import dataclasses
import statistics
from typing import List, Optional, Sequence

from vhdbench.measure import Sample

MiB = 1024 * 1024
QEMU = 'qemu-img'
CP = 'cp --sparse=always'


@dataclasses.dataclass
class Result:
    """Every timed run of one tool on one workload, and what it wrote."""

    workload: str
    tool: str
    samples: List[Sample]
    apparent: int
    allocated: int
    vhd: bool = True  # False for cp's raw copy: no size ratio to a VHD
    data_bytes: int = 0  # the workload's data, for space ratios
    fs_used: Optional[int] = None  # what df says the output takes

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def spread(self) -> str:
        """The fastest and the slowest run: how far one run says anything."""
        seconds = [s.seconds for s in self.samples]
        return f'{min(seconds):.2f}-{max(seconds):.2f}'

    @property
    def peak_rss(self) -> int:
        return max(s.peak_rss for s in self.samples)


HEADINGS = ('workload', 'tool', 'median s', 'runs s', 'x qemu-img', 'x cp',
            'peak RSS MiB', 'apparent MiB', 'allocated MiB', 'df MiB',
            'size x qemu-img')


def _ratio(value: float, reference: Optional[float]) -> str:
    if not reference:
        return '-'
    return f'{value / reference:.2f}'


def _reference(results: Sequence[Result], workload: str,
               tool: str) -> Optional[Result]:
    return next((r for r in results
                 if r.workload == workload and r.tool == tool), None)


def rows(results: Sequence[Result]) -> List[List[str]]:
    """One row per result, with ratios to qemu-img and cp on its workload."""
    body = []
    for result in results:
        qemu = _reference(results, result.workload, QEMU)
        cp = _reference(results, result.workload, CP)
        body.append([
            result.workload, result.tool, f'{result.median:.3f}',
            result.spread,
            _ratio(result.median, qemu.median if qemu else None),
            _ratio(result.median, cp.median if cp else None),
            f'{result.peak_rss / MiB:.1f}',
            f'{result.apparent / MiB:.1f}', f'{result.allocated / MiB:.1f}',
            '-' if result.fs_used is None else f'{result.fs_used / MiB:.1f}',
            _ratio(result.apparent,
                   qemu.apparent if qemu and result.vhd else None),
        ])
    return body


def render(results: Sequence[Result]) -> str:
    """The results as a reST simple table."""
    return table(HEADINGS, rows(results), left=2)


def table(headings: Sequence[str], body: Sequence[Sequence[str]],
          left: int) -> str:
    """A reST simple table, so it can be pasted into the docs as it is; the
    first ``left`` columns are text, the rest numbers.
    """
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(headings)]
    rule = '  '.join('=' * w for w in widths)

    def line(cells: Sequence[str]) -> str:
        return '  '.join(cell.ljust(w) if i < left else cell.rjust(w)
                         for i, (cell, w) in enumerate(zip(cells, widths))
                         ).rstrip()

    return '\n'.join([rule, line(headings), rule, *map(line, body), rule])
