"""Is a VHD ready for import into XenServer, or into Rackspace's cloud?

``assess`` applies every rule of the target: ``xenserver`` is vhd-util
check plus the footer's rules (readiness.py); ``rackspace`` adds what nova's
XenAPI driver and Cloud Files do with the disk (rackspace.py); ``azure``
has rules of its own, read from the footer and the file's size (azure.py).  The result
also carries the Glance properties to upload the image with.
"""

from __future__ import annotations

import dataclasses
import os
import time

from diskimage_vhd.errors import NotRegularFileError
from diskimage_vhd.errors import os_error
from diskimage_vhd.errors import VhdError
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format import locate
from diskimage_vhd.format.units import ceil_div
from diskimage_vhd.image.reader import VhdImage
from diskimage_vhd.posix.io import file_size
from diskimage_vhd.posix.io import open_input
from diskimage_vhd.posix.io import pread_full
from diskimage_vhd.sizes import plural
from diskimage_vhd.xen import azure
from diskimage_vhd.xen.bootrule import boot_findings
from diskimage_vhd.xen.check import check
from diskimage_vhd.xen.check import CheckReport
from diskimage_vhd.xen import importers
from diskimage_vhd.xen import rackspace
from diskimage_vhd.xen.rackspace import GIB
from diskimage_vhd.xen.readiness import Finding
from diskimage_vhd.xen.readiness import footer_findings
from diskimage_vhd.xen.readiness import Level
from diskimage_vhd.xen import TARGETS


@dataclasses.dataclass
class Readiness:
    """The verdict for one target: the check report, findings, properties."""

    target: str
    report: CheckReport
    findings: list[Finding]
    image_properties: dict[str, str | int]

    def at(self, level: Level) -> list[Finding]:
        return [f for f in self.findings if f.level is level]

    @property
    def problems(self) -> list[Finding]:
        return self.at(Level.PROBLEM)

    @property
    def warnings(self) -> list[Finding]:
        return self.at(Level.WARNING)

    @property
    def notes(self) -> list[Finding]:
        return self.at(Level.NOTE)

    @property
    def ready(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        """``check --json``'s keys, plus the target's; ``warnings`` become
        objects with a code, as ``problems`` and ``notes`` are.
        """
        result = self.report.to_dict()
        result.update({
            'target': self.target, 'ready': self.ready,
            'problems': [f.to_dict() for f in self.problems],
            'warnings': [f.to_dict() for f in self.warnings],
            'notes': [f.to_dict() for f in self.notes],
            'image_properties': dict(self.image_properties),
        })
        return result


def assess(path: str | os.PathLike, target: str,
           now: float | None = None,
           check_bitmaps: bool = False) -> Readiness:
    """Apply every rule of ``target`` to the VHD at ``path``.

    An unreadable file raises VhdError; a corrupt one is a problem.
    """
    if target not in TARGETS:
        raise ValueError(f'unknown target {target!r}')
    path = os.fspath(path)
    now = time.time() if now is None else now
    report = check(path, check_bitmaps=check_bitmaps, now=now, readable=True)
    if target == 'azure':
        # Azure reads the footer alone: vhd-util check's verdict (kept in
        # the report) is XenServer's, not Azure's.
        return Readiness(target, report, _worst_first(_azure(path)), {})
    findings: list[Finding] = []
    if not report.valid:
        detail = f' ({report.detail})' if report.detail else ''
        findings.append(Finding(
            Level.PROBLEM, 'vhd-util-check',
            f'vhd-util check fails: {report.error}{detail}',
            'the os-xenapi import plugin refuses it (_validate_vhd): '
            'convert the image again'))
    auto: rackspace.AutoDiskConfig | None = None  # judged for rackspace
    try:
        image = VhdImage(path)
    except VhdError:
        if report.valid:  # check opened it a moment ago: it changed
            raise
        # vhd-util-check already says what is wrong, and the footer's rules
        # judge what they can; the partitions, the sizes and the upload of
        # a disk that cannot be read cannot be judged, so nothing is said
        # of them.
        footer = _raw_footer(path)
        if footer is not None:
            findings += footer_findings(footer, None, now)
        return Readiness(target, report, _worst_first(findings), {})
    with image:
        footer = image.footer
        batmap = image.batmap_header is not None
        findings += footer_findings(footer, batmap if image.is_dynamic
                                    else None, now)
        findings += importers.stream_findings(image)
        findings += boot_findings(image, target)
        if target == 'rackspace':
            findings += rackspace.disk_findings(image)
            auto = rackspace.auto_disk_config(image)
    properties: dict[str, str | int] = {
        'disk_format': 'vhd', 'container_format': 'ovf',
        'min_disk': ceil_div(footer.current_size, GIB)}
    if auto is not None:
        properties['auto_disk_config'] = 'True' if auto.enabled else 'False'
        if not auto.enabled:
            findings.append(auto.finding())
    if target == 'rackspace':
        findings += rackspace.upload_findings(os.path.getsize(path))
        findings += importers.rackspace_findings(footer.current_size)
        properties.update(importers.RACKSPACE_PROPERTIES)
    findings.append(properties_note(properties))
    if target == 'xenserver':
        findings.append(importers.vdi_import_note(footer.current_size))
    return Readiness(target, report, _worst_first(findings), properties)


def _worst_first(findings: list[Finding]) -> list[Finding]:
    order = list(Level)
    return sorted(findings, key=lambda f: order.index(f.level))


def properties_note(properties: dict[str, str | int]) -> Finding:
    """The Glance properties to upload with, as a note."""
    listed = ' '.join(f'{key}={value}' for key, value in properties.items())
    return Finding(Level.NOTE, 'image-properties',
                   f'upload with the image properties {listed}',
                   'min_disk is the virtual size in GiB, rounded up')


def _raw_footer(path: str) -> Footer | None:
    """The last 512 bytes as a footer, for a file the reader refuses."""
    try:
        return _tail(path)[0]
    except NotRegularFileError:  # vhd-util-check said so already
        return None


def _tail(path: str) -> tuple[Footer | None, int]:
    """The footer in the last 512 bytes (None if there is none), and the
    file's size.
    """
    fd = open_input(path)
    try:
        size = file_size(fd)
        found = locate.find_footer(
            size, lambda length, offset: pread_full(fd, length, offset),
            (locate.END,))
    except OSError as error:
        raise os_error(path, error) from None
    finally:
        os.close(fd)
    return (found.footer if found is not None else None), size


def _azure(path: str) -> list[Finding]:
    """Azure's rules, on what it reads: the file's tail and its size."""
    try:
        footer, size = _tail(path)
    except NotRegularFileError as error:
        return [Finding(Level.PROBLEM, 'not-a-file',
                        f'{path} {error.problem}: Azure takes a file, uploaded '
                        'byte for byte')]
    return azure.findings(footer, size)


def report_lines(readiness: Readiness, path: str,
                 quiet: bool = False) -> list[str]:
    """One line a finding, worst first, then the verdict: for people.

    ``quiet`` keeps only the problems, and the verdict when there are some.
    """
    lines = [f'{f.level.value}: {f.text} [{f.code}]'
             for f in readiness.findings
             if not quiet or f.level is Level.PROBLEM]
    if readiness.ready and quiet:
        return lines
    if readiness.ready:
        warned = len(readiness.warnings)
        extra = (f', with {plural(warned, "warning")}' if warned else '')
        lines.append(f'{path} is ready for {readiness.target}{extra}')
    else:
        codes = ', '.join(dict.fromkeys(f.code for f in readiness.problems))
        lines.append(f'{path} is not ready for {readiness.target}: '
                     f'{plural(len(readiness.problems), "problem")} ({codes})')
    return lines
