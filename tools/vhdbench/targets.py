"""Issue 12's targets: the ratio each is judged by, and whether it is met."""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence

from vhdbench.report import MiB
from vhdbench.report import QEMU
from vhdbench.report import Result
from vhdbench.report import table
from vhdbench.tools import DIB
from vhdbench.tools import DIB_QEMU
from vhdbench.tools import DIB_QEMU_SYNC
from vhdbench.tools import DVHD
from vhdbench.tools import QEMU_SYNC
from vhdbench.tools import REPRODUCIBLE

OURS = (DVHD, REPRODUCIBLE, DIB)
RSS_LIMIT = 64 * MiB
SHARED_LIMIT = 0.05  # an output on a reflink file system: df / data


@dataclasses.dataclass(frozen=True)
class Speed:
    """Median of ``tool`` over median of ``peer`` on ``row``, <= ``limit``.

    ``durable`` names the same peer with its output flushed (``sync -f``),
    where the peer's own does not flush and ours does: the like-for-like
    ratio, printed beside the one the target is judged by.
    """

    label: str
    row: str
    tool: str
    peer: str
    limit: float
    durable: str = ''


SPEED = (
    Speed('DIB-like, warm cache', 'a', DVHD, QEMU, 0.8, QEMU_SYNC),
    Speed('DIB-like, SOURCE_DATE_EPOCH', 'a', REPRODUCIBLE, QEMU, 1.0,
          QEMU_SYNC),
    Speed('dense', 'b', DVHD, QEMU_SYNC, 1.0),
    Speed('1 TiB empty', 'c', DVHD, QEMU, 1.0),
    Speed('written zeros', 'z', DVHD, QEMU, 1.0),
    Speed('100,000 small extents', 'e', DVHD, QEMU, 0.5, QEMU_SYNC),
    Speed('DIB-like, cold cache', 'a-cold', DVHD, QEMU, 1.0, QEMU_SYNC),
    Speed('dense, cold cache', 'b-cold', DVHD, QEMU, 1.0, QEMU_SYNC),
    Speed("DIB's steps", 'd', DIB, DIB_QEMU, 0.8, DIB_QEMU_SYNC),
)
SHARED_ROWS = ('a-xfs', 'a-btrfs')
HEADINGS = ('target', 'judged by', 'ratio', 'limit', 'met',
            'x peer + sync -f')


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
                         f'<= {target.limit:.2f}', '-', '-'])
            continue
        ratio = ours.median / peer.median
        durable = _find(results, target.row, target.durable)
        body.append([target.label, judged, f'{ratio:.2f}',
                     f'<= {target.limit:.2f}',
                     _verdict(ratio, target.limit),
                     f'{ours.median / durable.median:.2f}' if durable
                     else '-'])
    for row in SHARED_ROWS:
        ours = _find(results, row, DVHD)
        label = f'{row[2:]}: extents shared'
        judged = f'{row}: df of {DVHD} output / data'
        if ours is None or ours.fs_used is None or not ours.data_bytes:
            body.append([label, judged, 'not run',
                         f'< {SHARED_LIMIT:.2f}', '-', '-'])
            continue
        share = ours.fs_used / ours.data_bytes
        body.append([label, judged, f'{share:.3f}', f'< {SHARED_LIMIT:.2f}',
                     _verdict(share, SHARED_LIMIT, strict=True), '-'])
    peaks = [r.peak_rss for r in results if r.tool in OURS]
    if peaks:
        peak = max(peaks)
        body.append(['peak RSS everywhere', 'largest of ours / 64 MiB',
                     f'{peak / RSS_LIMIT:.2f}', '< 1.00',
                     _verdict(peak, RSS_LIMIT, strict=True), '-'])
    return body


def render(results: Sequence[Result]) -> str:
    """Issue 12's targets as a reST simple table."""
    return table(HEADINGS, rows(results), left=2)
