"""The tools compared on each row of the benchmark, as command lines."""

from __future__ import annotations

import dataclasses
import os
import sys
import sysconfig
from typing import Dict, List

from vhdbench.measure import Command
from vhdbench.report import CP
from vhdbench.report import QEMU

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DVHD = 'diskimage-vhd'
REPRODUCIBLE = 'diskimage-vhd, SOURCE_DATE_EPOCH'
# Each mode against the peer in the same mode.  qemu-img's convert runs
# with cache=unsafe (no flush), cp does not flush either: the peers of the
# default mode.  `-t writeback` is qemu-img's flushing mode (fdatasync at
# the end), and cp followed by `sync -f` the least a durable copy of the
# same data costs: the peers of --sync.
DVHD_SYNC = 'diskimage-vhd --sync'
QEMU_WRITEBACK = 'qemu-img -t writeback'
CP_SYNC = 'cp --sparse=always + sync -f'
DIB = 'vhd-util (DIB steps)'
DIB_QEMU = 'qemu-img (DIB steps)'
# The kinds of row that also time the durable mode and its peers.
SYNC_KINDS = ('reproducible', 'durable')
ISSUE_EPOCH = '1764105425'


@dataclasses.dataclass
class Tool:
    """How to run one tool on a workload, and which files it leaves."""

    name: str
    commands: List[Command]
    output: str
    env: Dict[str, str]
    verify: bool = False  # a diskimage-vhd output: qemu-img compare it
    scratch: List[str] = dataclasses.field(default_factory=list)


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
                        'DIB_VHD_MAX_SIZE', 'DIB_VHD_SYNC')}
    env['PYTHONPATH'] = os.pathsep.join(
        filter(None, [REPO, env.get('PYTHONPATH')]))
    env.update(extra)
    return env


def start_up_commands() -> Dict[str, Tool]:
    """Each tool doing nothing but start (``--version``): what its own
    files cost to load, apart from any disk.
    """
    return {
        'diskimage-vhd': Tool('diskimage-vhd --version', [
            _console_script('diskimage-vhd', 'diskimage_vhd') + ['--version']],
            os.devnull, _environment()),
        'qemu-img': Tool('qemu-img --version', [['qemu-img', '--version']],
                         os.devnull, _environment()),
    }


def has_vhd_util() -> bool:
    """Whether the ``vhd-util`` drop-in has landed in this checkout."""
    return os.path.exists(os.path.join(REPO, 'diskimage_vhd', 'vhdutil',
                                       'cli.py'))


def _qemu(source: str, output: str, *options: str) -> List[str]:
    return ['qemu-img', 'convert', *options, '-f', 'raw', '-O', 'vpc',
            source, output]


def dib_steps(source: str, out: str) -> List[Tool]:
    """DIB's ``vhd`` output step as ``img-functions`` runs it, through the
    drop-in, and the same steps with ``qemu-img`` in place of ``vhd-util``
    (its raw-to-dynamic conversion is one command, DIB's two).  Both end
    as DIB's steps do, with the VHD alone: DIB removes the ``.bak`` the
    drop-in leaves, the qemu-img steps remove their intermediate copy.
    So both leave the same files to the next run (measured: with the
    qemu-img side's copy left behind, the drop-in's second conversion took
    3-4 s instead of 0.7 s in alternating runs).
    """
    plain = _environment()
    vhd_util = _console_script('vhd-util', 'diskimage_vhd.vhdutil')
    work = f'{out}.dib-intermediate'
    qwork = f'{out}.dibq-intermediate'
    return [
        Tool(DIB, [
            ['cp', source, work],
            [*vhd_util, 'convert', '-s', '0', '-t', '1', '-i', work, '-o',
             work],
            [*vhd_util, 'convert', '-s', '1', '-t', '2', '-i', work, '-o',
             f'{out}.dib.vhd'],
            ['rm', f'{work}.bak'],
        ], f'{out}.dib.vhd', plain, verify=True, scratch=[work]),
        Tool(DIB_QEMU, [['cp', source, qwork],
                        _qemu(qwork, f'{out}.dibq.vhd'),
                        ['rm', qwork]],
             f'{out}.dibq.vhd', plain, scratch=[qwork]),
        Tool(QEMU, [_qemu(source, f'{out}.qemu.vhd')], f'{out}.qemu.vhd',
             plain),
    ]


def tools_for(kind: str, source: str, out: str) -> List[Tool]:
    """The tools compared on a row of kind ``kind`` (see benchmark.ROWS)."""
    if kind == 'dib':
        return dib_steps(source, out)
    plain = _environment()
    dvhd = _console_script('diskimage-vhd', 'diskimage_vhd')
    tools = [Tool(DVHD, [[*dvhd, 'convert', source, f'{out}.vhd']],
                  f'{out}.vhd', plain, verify=True)]
    if kind == 'reproducible':
        tools.append(Tool(REPRODUCIBLE, [
            [*dvhd, 'convert', source, f'{out}.sde.vhd']], f'{out}.sde.vhd',
            _environment(SOURCE_DATE_EPOCH=ISSUE_EPOCH), verify=True))
    if kind in SYNC_KINDS:
        tools.append(Tool(DVHD_SYNC, [
            [*dvhd, 'convert', '--sync', source, f'{out}.sync.vhd']],
            f'{out}.sync.vhd', plain, verify=True))
    tools.append(Tool(QEMU, [_qemu(source, f'{out}.qemu.vhd')],
                      f'{out}.qemu.vhd', plain))
    if kind in SYNC_KINDS:
        tools.append(Tool(QEMU_WRITEBACK, [
            _qemu(source, f'{out}.qemu-wb.vhd', '-t', 'writeback')],
            f'{out}.qemu-wb.vhd', plain))
    if kind != 'cold':
        tools.append(Tool(CP, [['cp', '--sparse=always', source,
                                f'{out}.cp.raw']], f'{out}.cp.raw', plain))
    if kind in SYNC_KINDS:
        tools.append(Tool(CP_SYNC, [
            ['cp', '--sparse=always', source, f'{out}.cp-sync.raw'],
            ['sync', '-f', f'{out}.cp-sync.raw']], f'{out}.cp-sync.raw',
            plain))
    return tools
