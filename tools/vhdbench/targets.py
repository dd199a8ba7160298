"""The performance targets: the ratio each is judged by, and whether it is met.

Each mode is judged against the peer in the same mode: the default (no
flush) against ``qemu-img convert -O vpc`` and ``cp --sparse=always``,
which do not flush either; ``--sync`` against ``qemu-img convert -t
writeback`` (qemu's flushing mode) and ``cp`` followed by ``sync -f``.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence

from vhdbench.report import CP
from vhdbench.report import MiB
from vhdbench.report import QEMU
from vhdbench.report import Result
from vhdbench.report import table
from vhdbench.tools import CP_SYNC
from vhdbench.tools import DIB
from vhdbench.tools import DIB_QEMU
from vhdbench.tools import DVHD
from vhdbench.tools import DVHD_SYNC
from vhdbench.tools import QEMU_WRITEBACK
from vhdbench.tools import REPRODUCIBLE

OURS = (DVHD, REPRODUCIBLE, DVHD_SYNC, DIB)
RSS_LIMIT = 64 * MiB
SHARED_LIMIT = 0.05  # an output on a reflink file system: df / data


@dataclasses.dataclass(frozen=True)
class Speed:
    """Median of ``tool`` over median of ``peer`` on ``row``, <= ``limit``."""

    label: str
    row: str
    tool: str
    peer: str
    limit: float


SPEED = (
    Speed('DIB-like, warm cache', 'a', DVHD, QEMU, 0.9),
    Speed('DIB-like, warm cache, x cp', 'a', DVHD, CP, 1.1),
    Speed('DIB-like, SOURCE_DATE_EPOCH', 'a', REPRODUCIBLE, QEMU, 1.0),
    Speed('dense', 'b', DVHD, QEMU, 0.9),
    Speed('written zeros', 'z', DVHD, QEMU, 1.0),
    Speed('1 TiB empty', 'c', DVHD, QEMU, 1.0),
    Speed('100,000 small extents', 'e', DVHD, QEMU, 0.5),
    Speed('DIB-like, cold cache', 'a-cold', DVHD, QEMU, 1.0),
    Speed('dense, cold cache', 'b-cold', DVHD, QEMU, 1.0),
    Speed("DIB's steps", 'd', DIB, DIB_QEMU, 0.95),
    Speed('--sync DIB-like', 'a', DVHD_SYNC, QEMU_WRITEBACK, 0.7),
    Speed('--sync DIB-like, x cp + sync', 'a', DVHD_SYNC, CP_SYNC, 1.2),
    Speed('--sync dense', 'b', DVHD_SYNC, QEMU_WRITEBACK, 0.7),
    Speed('--sync dense, x cp + sync', 'b', DVHD_SYNC, CP_SYNC, 1.2),
)
SHARED_ROWS = ('a-xfs', 'a-btrfs')
HEADINGS = ('target', 'judged by', 'ratio', 'limit', 'met')


def _find(results: Sequence[Result], row: str,
          tool: str) -> Optional[Result]:
    return next((r for r in results if r.workload == row and r.tool == tool),
                None)


def _verdict(value: float, limit: float, strict: bool = False) -> str:
    return 'yes' if (value < limit if strict else value <= limit) else 'NO'


def rows(results: Sequence[Result]) -> List[List[str]]:
    """One line per target; a target whose rows did not run says so."""
    body = []
    for target in SPEED:
        ours = _find(results, target.row, target.tool)
        peer = _find(results, target.row, target.peer)
        judged = f'{target.row}: {target.tool} / {target.peer}'
        if ours is None or peer is None:
            body.append([target.label, judged, 'not run',
                         f'<= {target.limit:.2f}', '-'])
            continue
        # Judged as printed, so each line reads true ("0.70 <= 0.70 yes").
        ratio = round(ours.median / peer.median, 2)
        body.append([target.label, judged, f'{ratio:.2f}',
                     f'<= {target.limit:.2f}', _verdict(ratio, target.limit)])
    for row in SHARED_ROWS:
        ours = _find(results, row, DVHD)
        label = f'{row[2:]}: extents shared'
        judged = f'{row}: df of {DVHD} output / data'
        if ours is None or ours.fs_used is None or not ours.data_bytes:
            body.append([label, judged, 'not run',
                         f'< {SHARED_LIMIT:.2f}', '-'])
            continue
        share = round(ours.fs_used / ours.data_bytes, 3)
        body.append([label, judged, f'{share:.3f}', f'< {SHARED_LIMIT:.2f}',
                     _verdict(share, SHARED_LIMIT, strict=True)])
    peaks = [r.peak_rss for r in results if r.tool in OURS]
    if peaks:
        peak = round(max(peaks) / RSS_LIMIT, 2)
        body.append(['peak RSS everywhere', 'largest of ours / 64 MiB',
                     f'{peak:.2f}', '< 1.00', _verdict(peak, 1.0, strict=True)])
    return body


def summary(body: Sequence[Sequence[str]]) -> str:
    """One line: how many targets were met, of those that ran."""
    ran = [line for line in body if line[-1] != '-']
    met = [line for line in ran if line[-1] == 'yes']
    missed = '; '.join(line[0] for line in ran if line[-1] != 'yes')
    text = f'targets met: {len(met)} of {len(ran)} run, of {len(body)}'
    return f'{text}; NOT met: {missed}' if missed else text


def render(results: Sequence[Result]) -> str:
    """The targets as a reST simple table, and the summary line."""
    body = rows(results)
    return table(HEADINGS, body, left=2) + '\n' + summary(body)
