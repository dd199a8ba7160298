"""Checksum files beside an image, committed with it.

In the format of ``sha256sum``/``md5sum`` (and of diskimage-builder's
``--checksum`` files, ``sha256sum IMAGE > IMAGE.sha256``): ``HEX  NAME``,
NAME being the output as named on the command line (``-`` for standard
output).  They are written to temporary files before the image is renamed
into place, and renamed first (``posix.atomic.commit_together``), so the
image never appears without its checksums.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import contextlib
import os

from diskimage_vhd.errors import os_error
from diskimage_vhd.posix.atomic import AtomicOutput
from diskimage_vhd.posix.atomic import commit_together
from diskimage_vhd.posix.io import write_all

# {algorithm: [paths]}
Sidecars = Mapping[str, Sequence[str]]


def paths(sidecars: Sidecars | None) -> list[str]:
    """Every checksum file named, in a fixed order."""
    return [path for algorithm in sorted(sidecars or {})
            for path in sidecars[algorithm]]


def checksum_line(hexdigest: str, name: str) -> bytes:
    """One line as ``sha256sum`` prints it: names with ``\\`` or a newline
    escaped the way GNU coreutils escapes them, other bytes as they are
    (a name that is not UTF-8 included).
    """
    if any(char in name for char in '\\\n\r'):
        escaped = (name.replace('\\', '\\\\').replace('\n', '\\n')
                   .replace('\r', '\\r'))
        text = f'\\{hexdigest}  {escaped}\n'
    else:
        text = f'{hexdigest}  {name}\n'
    return os.fsencode(text)


def open_sidecars(stack: contextlib.ExitStack, sidecars: Sidecars | None,
                  sums: Mapping[str, str], name: str,
                  notify: Callable[[str], None] | None = None,
                  sync: bool = False) -> list[AtomicOutput]:
    """Each checksum file written under a temporary name, not yet renamed
    (and flushed when committed, with ``sync``, as the image is).
    """
    opened = []
    for algorithm in sorted(sidecars or {}):
        line = checksum_line(sums[algorithm], name)
        for path in sidecars[algorithm]:
            output = stack.enter_context(
                AtomicOutput(path, notify, sync=sync))
            try:
                write_all(output.fd, line, 0)
            except OSError as error:
                raise os_error(path, error) from None
            opened.append(output)
    return opened


def write_sidecars(sidecars: Sidecars | None, sums: Mapping[str, str],
                   name: str,
                   notify: Callable[[str], None] | None = None,
                   sync: bool = False) -> None:
    """The checksum files of a stream (the image went to standard output)."""
    with contextlib.ExitStack() as stack:
        outputs = open_sidecars(stack, sidecars, sums, name, notify, sync)
        try:
            commit_together(outputs)
        except OSError as error:
            raise os_error(outputs[0].destination if outputs else name,
                           error) from None
