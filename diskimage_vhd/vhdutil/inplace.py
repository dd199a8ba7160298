"""In-place ``vhd-util convert``: raw <-> fixed by a footer and a rename.

diskimage-builder expects ``-s 0 -t 1`` to append a footer to IN and rename
it to OUT, and ``-s 1 -t 0`` to cut it off again.  Each either finishes or
leaves IN as it was (size, bytes, name): whatever can be checked before IN
is touched is (a directory at OUT, OUT on another file system), every write
is checked to the last byte, and each change to IN is undone if a later
step fails or a SIGINT or SIGTERM arrives before the last one.  The steps
run with those signals held (``posix.signals``), so "interrupted" always
means IN is as it was.  With ``sync`` (``DIB_VHD_SYNC=1``) the change is
flushed to the disk before the rename and the directory after it, so a
power cut leaves IN or OUT, not a renamed file without its footer.
"""

from __future__ import annotations

import errno
import os

from diskimage_vhd.errors import describe_os_error
from diskimage_vhd.errors import os_error
from diskimage_vhd.errors import VhdError
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format import locate
from diskimage_vhd.posix.durable import flush_data
from diskimage_vhd.posix.durable import flush_directory
from diskimage_vhd.posix import guard
from diskimage_vhd.posix.io import file_size
from diskimage_vhd.posix.io import pread_full
from diskimage_vhd.posix.io import write_all
from diskimage_vhd.posix import signals

KEPT = 'left as it was'


def footer_at_end(fd: int) -> Footer | None:
    """The valid VHD footer the file ends with, if any."""
    found = locate.find_footer(
        file_size(fd), lambda length, offset: pread_full(fd, length, offset),
        (locate.END,),
        lambda footer: locate.has_cookie(footer) and footer.checksum_ok())
    return found.footer if found is not None else None


def check_target(source: str, target: str, source_device: int) -> None:
    """Refuse, before IN is touched, a rename that cannot succeed.

    Not every failure shows in advance (a bind mount of the same file
    system still refuses the rename); those are undone after the fact.
    """
    try:
        guard.existing(target)  # no link, directory, device or FIFO
    except VhdError as error:
        raise error.amended(f'{error.problem}; {source} is {KEPT}') from None
    try:
        device = os.stat(os.path.dirname(os.path.abspath(target))).st_dev
    except OSError as error:
        raise os_error(target, error) from None
    if device != source_device:
        raise VhdError(target, f'is on another file system than {source}; '
                               f'cannot rename across them ({source} is '
                               f'{KEPT})')


def rename(source: str, target: str) -> None:
    """``rename(2)``, refusing to replace anything but a regular file."""
    if source == target:
        return
    check_target(source, target, os.stat(source).st_dev)
    _rename(source, target)


def _rename(source: str, target: str) -> None:
    if source == target:
        return
    try:
        os.rename(source, target)
    except OSError as error:
        raise VhdError(target, f'cannot rename {source} to it: '
                               f'{describe_os_error(error)}',
                       errno=error.errno) from None


def _cut(fd: int, size: int, name: str | None = None) -> OSError | None:
    """Truncate IN back to ``size``; the error if that failed.

    Only a file ``name`` still names: cutting through a descriptor whose
    file has since become another run's output would destroy it.
    """
    if name is not None and not guard.still_named(fd, name):
        return OSError(errno.ESTALE, 'it is no longer the file this run '
                                     'opened')
    try:
        os.ftruncate(fd, size)
    except OSError as failure:
        return failure
    return None


def _cut_back(fd: int, source: str, size: int, error: VhdError) -> VhdError:
    """Truncate IN to its old ``size``; the error to raise, saying so."""
    failure = _cut(fd, size, source)
    if failure is not None:
        return error.amended(f'{error.problem}; and {source} could not be '
                             f'cut back to {size} bytes: '
                             f'{describe_os_error(failure)}')
    return error.amended(f'{error.problem}; {source} is {KEPT}')


def append_and_rename(fd: int, source: str, target: str, data: bytes,
                      sync: bool = False) -> None:
    """Append ``data`` to IN (open as ``fd``), then rename IN to OUT."""
    size = file_size(fd)
    check_target(source, target, os.fstat(fd).st_dev)
    with signals.held():
        try:
            write_all(fd, data, size)
            if sync:
                flush_data(fd)
        except OSError as error:
            raise _cut_back(fd, source, size,
                            os_error(source, error)) from None
        except BaseException:
            _cut(fd, size, source)
            raise
        stopped = signals.pending()
        if stopped:  # cut back; the signal is raised on leaving
            if _cut(fd, size, source) is not None:
                raise _cut_back(fd, source, size,
                                VhdError(source, 'interrupted'))
        else:
            try:
                _rename(source, target)
            except VhdError as error:
                raise _cut_back(fd, source, size, error) from None
            if sync:
                _flush_directory(target)
            signals.discard_pending()
    if stopped:  # only if the signal's handler did not raise
        raise VhdError(source, f'interrupted; {source} is {KEPT}')


def _flush_directory(target: str, fd: int | None = None) -> None:
    """After the rename (and first OUT's data, open as ``fd``): the
    change is made, so a failure to flush it names OUT.
    """
    try:
        if fd is not None:
            flush_data(fd)
        flush_directory(os.path.dirname(os.path.abspath(target)))
    except OSError as error:
        raise os_error(target, error) from None


def rename_and_cut(fd: int, source: str, target: str, length: int,
                   sync: bool = False) -> None:
    """Rename IN to OUT, then cut OUT (open as ``fd``) to ``length`` bytes.

    Renaming first means IN loses nothing unless the rename has succeeded;
    a truncation that then fails renames it back.
    """
    check_target(source, target, os.fstat(fd).st_dev)
    with signals.held():
        if signals.pending():
            stopped = True
        else:
            stopped = False
            try:
                _rename(source, target)
            except VhdError as error:
                raise error.amended(f'{error.problem}; {source} is '
                                    f'{KEPT}') from None
            try:
                os.ftruncate(fd, length)
            except OSError as error:
                _rename(target, source)
                raise VhdError(source, f'{describe_os_error(error)}; {source} '
                                       f'is {KEPT}', errno=error.errno) from None
            if sync:
                _flush_directory(target, fd)
            signals.discard_pending()
    if stopped:
        raise VhdError(source, f'interrupted; {source} is {KEPT}')
