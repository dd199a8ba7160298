"""``vhd-util query``: sizes, parent, hidden flag, chain depth, as tools parse them."""

from __future__ import annotations

import errno
import os
from typing import Callable

from diskimage_vhd.format import constants as c
from diskimage_vhd.format import creators
from diskimage_vhd.format import locate
from diskimage_vhd.vhdutil.options import parse
from diskimage_vhd.vhdutil.options import usage
from diskimage_vhd.xen import libvhd
from diskimage_vhd.xen import parents

SPEC = 'n:vsapfdSmh'
USAGE = ('options: <-n name> [-v print virtual size (in MB)] '
         '[-s print physical utilization (bytes)] '
         '[-a print allocated block count] [-p print parent] '
         '[-f print fields] [-m print marker] [-d print chain depth] '
         '[-S print max virtual size (MB) for fast resize] [-h help]')
MAX_CHAIN = 1024  # libvhd would loop forever on a cycle of parents


def hidden(vhd: libvhd.Vhd) -> int:
    """``vhd_hidden``: old tap disks keep the flag in the copy at offset 0."""
    footer = vhd.footer
    if (vhd.is_dynamic and footer.is_tapdisk and footer.creator_version
            in creators.TAP_HIDDEN_OUTSIDE_CHECKSUM):
        found = locate.read_at(
            locate.COPY, vhd.file_size,
            lambda length, offset: libvhd.vhd_read(vhd.fd, length, offset))
        assert found is not None  # vhd_read returns all of it or raises
        copy = found.footer
        if not libvhd.footer_usable(copy):
            raise libvhd.LibvhdError(errno.EINVAL, 'backup footer invalid')
        value = copy.hidden
    else:
        value = footer.hidden
    return value - 256 if value > 127 else value


def marker(vhd: libvhd.Vhd) -> int:
    """The batmap header's marker byte (0 where there is no batmap)."""
    if not libvhd.has_batmap(vhd):
        return 0
    return libvhd.read_batmap_header(vhd).marker


def allocated_blocks(vhd: libvhd.Vhd) -> int:
    """Allocated entries among the BAT ``vhd_read_bat`` reads (a fixed
    disk has none to read: EINVAL).
    """
    libvhd.check_bat_readable(vhd)
    return libvhd.bat_summary(vhd)[0]


def chain_depth(vhd: libvhd.Vhd) -> int:
    """``vhd_chain_depth``: 1, plus one per parent (a raw parent counts).

    libvhd would follow a cycle of parents (A -> B -> A) for ever; a disk
    met twice (the same device and inode, whatever path named it) stops
    the walk at once with ELOOP, and MAX_CHAIN bounds a long honest chain.
    """
    depth = 1
    current = vhd
    opened: list[libvhd.Vhd] = []
    seen = {_identity(vhd)}
    try:
        while current.footer.is_differencing:
            if parents.parent_is_raw(current):
                return depth + 1
            if depth >= MAX_CHAIN:
                raise libvhd.LibvhdError(errno.ELOOP, 'parent chain too long')
            current = libvhd.open_vhd(parents.parent_locator_get(current))
            opened.append(current)
            if _identity(current) in seen:
                raise libvhd.LibvhdError(errno.ELOOP, 'parent chain is a '
                                                      'cycle')
            seen.add(_identity(current))
            depth += 1
        return depth
    finally:
        for disk in opened:
            disk.close()


def _identity(vhd: libvhd.Vhd) -> tuple[int, int]:
    """The file behind an open disk, whatever path reached it."""
    status = os.fstat(vhd.fd)
    return status.st_dev, status.st_ino


def run(args: list[str], out: Callable[[str], None]) -> int:
    found: dict[str, str] = parse(args, SPEC)
    name = found.get('n')
    if name is None:
        raise usage()
    try:
        vhd = libvhd.open_vhd(name)
    except libvhd.LibvhdError as error:
        out(f'error opening {name}: {-error.errno}')
        return error.errno
    err = 0
    with vhd:
        if 'v' in found:
            out(str(vhd.footer.current_size >> 20))
        if 's' in found:
            try:
                out(str(libvhd.end_of_data(vhd) + c.FOOTER_SIZE))
            except libvhd.LibvhdError as error:
                out(f'failed to get physical size: {-error.errno}')
                err = err or error.errno
        if 'a' in found:
            try:
                out(str(allocated_blocks(vhd)))
            except libvhd.LibvhdError as error:
                out(f'error reading bat: {-error.errno}')
                err = err or error.errno
        if 'p' in found:
            if not vhd.footer.is_differencing:
                out(f'{name} has no parent')
            else:
                try:
                    out(parents.parent_locator_get(vhd))
                except libvhd.LibvhdError as error:
                    out('query failed')
                    err = err or error.errno
        err = _field(found, 'f', 'hidden', "'hidden' field",
                     lambda: hidden(vhd), out, err)
        err = _field(found, 'm', 'marker', "'marker' field",
                     lambda: marker(vhd), out, err)
        err = _field(found, 'd', 'chain depth', 'chain depth',
                     lambda: chain_depth(vhd), out, err)
        if 'S' in found:
            entries = vhd.header.max_table_entries if vhd.header else 0
            out(str((entries << 1) & 0xFFFFFFFF))
    return err


def _field(found: dict[str, str], flag: str, label: str, what: str,
           get: Callable[[], int], out: Callable[[str], None],
           err: int) -> int:
    if flag not in found:
        return err
    try:
        out(f'{label}: {get()}')
    except libvhd.LibvhdError as error:
        out(f'error checking {what}: {-error.errno}')
        return err or error.errno
    return err
