"""Checking a VHD as XenServer's ``vhd-util check`` does, plus readability.

The rules, their order and their messages are vhd-util's (blktap's
``vhd-util-check.c`` on top of libvhd), one module per rule group, so the
first problem found is the one vhd-util prints.  The rules work on raw
bytes: a corrupt file is exactly what they must describe, so they cannot
rely on the reader, which refuses one.

Where vhd-util crashes (a libvhd assertion) or fails without a message, the
report says what is wrong in vhd-util's style; where it is lax by accident (a
non-zero *first* reserved byte passes its zero test), these rules are strict.

``diskimage-vhd check`` adds one step: a disk vhd-util passes must also be
one this package reads (``image/reader.py`` is the one definition of that),
so that check, info and convert never disagree (``readable``).  ``vhd-util
check`` keeps XenServer's verdicts.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import time

from diskimage_vhd.errors import InvalidVhdError
from diskimage_vhd.errors import NotRegularFileError
from diskimage_vhd.errors import UsageError
from diskimage_vhd.format import constants as c
from diskimage_vhd.format import sizing
from diskimage_vhd.image.chain import open_chain
from diskimage_vhd.image.reader import VhdImage
from diskimage_vhd.posix.io import open_input
from diskimage_vhd.xen.check.bat import check_bat
from diskimage_vhd.xen.check.batmap import check_batmap
from diskimage_vhd.xen.check.context import CheckOptions
from diskimage_vhd.xen.check.context import CheckRun
from diskimage_vhd.xen.check.footers import check_footers
from diskimage_vhd.xen.check.header import check_differencing_header
from diskimage_vhd.xen.check.header import check_header
from diskimage_vhd.xen.check.header import open_like_libvhd
from diskimage_vhd.xen.check.parents import check_parent_locators
from diskimage_vhd.xen.check.problems import Problem
from diskimage_vhd.xen.check.problems import ProblemFound
from diskimage_vhd.xen.readiness import readiness_warnings

__all__ = ['CheckOptions', 'CheckReport', 'Problem', 'check']


@dataclasses.dataclass
class CheckReport:
    """The verdict on one file.

    ``problem`` is the first problem found (None if the file is valid);
    ``warnings`` are what would misbehave on XenServer though vhd-util passes.
    """

    path: str
    problem: Problem | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)
    disk_type: str | None = None
    virtual_size: int | None = None  # as the reader sees it (readable only)

    @property
    def valid(self) -> bool:
        return self.problem is None

    @property
    def error(self) -> str | None:
        """The line vhd-util prints for the problem."""
        return self.problem.message if self.problem else None

    @property
    def exit_code(self) -> int:
        """vhd-util's exit status (22, EINVAL, for most problems)."""
        return self.problem.errno if self.problem else 0

    @property
    def detail(self) -> str | None:
        return self.problem.detail if self.problem else None

    def to_dict(self) -> dict[str, object]:
        return {'path': self.path, 'valid': self.valid, 'error': self.error,
                'code': self.problem.code if self.problem else None,
                'detail': self.detail, 'warnings': list(self.warnings),
                'exit_code': self.exit_code, 'disk_type': self.disk_type,
                'virtual_size': self.virtual_size}


def check(path: str | os.PathLike[str], check_bitmaps: bool = False,
          now: float | None = None, *, ignore_footer: bool = False,
          ignore_timestamps: bool = False, skip_overlaps: bool = False,
          ignore_parent_uuid: bool = False,
          readable: bool = False,
          size_rule: str = sizing.AUTO) -> CheckReport:
    """Check ``path`` as ``vhd-util check [-b] [-i] [-t] [-B] [-I]`` does,
    then, with ``readable``, that this package can read it (what
    ``diskimage-vhd check`` does).

    ``size_rule`` is how the reader takes the disk's size
    (format/sizing.py).  ``now`` (Unix seconds, default the clock) is the
    time the footer's timestamp is judged against.  A file that cannot be opened raises
    VhdError (its ``errno`` set).
    """
    options = CheckOptions(check_bitmaps, ignore_footer, ignore_timestamps,
                           skip_overlaps, ignore_parent_uuid)
    if check_bitmaps and skip_overlaps:
        raise UsageError(None, 'not checking the BAT for overlaps (-B) '
                               'precludes checking bitmaps (-b)')
    path = os.fspath(path)
    report = CheckReport(path)
    try:
        fd = open_input(path)
    except NotRegularFileError:
        report.problem = Problem('not-regular-file', f'{path} is not a '
                                 'regular file or block device')
        return report
    run = CheckRun(path, fd, options, time.time() if now is None else now)
    try:
        _run_rules(run)
        if readable:
            report.virtual_size = _check_readable(run, size_rule)
    except ProblemFound as found:
        report.problem = found.problem
    finally:
        run.close()
    if run.footer is not None:
        report.disk_type = c.DISK_TYPE_NAMES.get(run.footer.disk_type)
        report.warnings = readiness_warnings(run.footer, run.batmap_present,
                                             run.now)
    return report


def _run_rules(run: CheckRun) -> None:
    """vhd-util's order: footers, header, libvhd's open, differencing
    header, BAT, batmap, parents; the first problem stops the run.
    """
    run.footer = check_footers(run)
    if not run.footer.is_dynamic:
        return
    check_header(run, run.footer)
    vhd = run.vhd = open_like_libvhd(run)
    run.footer = vhd.footer
    check_differencing_header(run, vhd)
    batmap = check_bat(run, vhd)
    if batmap is not None:
        check_batmap(run, vhd, batmap)
    if vhd.is_differencing:
        check_parent_locators(vhd, run.options.ignore_parent_uuid)


def _check_readable(run: CheckRun, size_rule: str) -> int:
    """The reader's refusals, in its words (``info`` and ``convert`` say
    the same); else the disk's size as they read it.
    """
    try:
        with VhdImage(run.path, size_rule) as image:
            if image.footer.is_differencing:
                open_chain(image).close()  # closes image too; twice is fine
            return image.size
    except InvalidVhdError as error:
        raise ProblemFound(Problem(
            f'unreadable-{error.kind}', error.problem, errno.EINVAL,
            detail='vhd-util check passes this disk, but it cannot be read '
                   'whole')) from None
