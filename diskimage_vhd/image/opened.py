"""An input file held open for a conversion, and the promise that it did
not change while it was read."""

from __future__ import annotations

import os

from diskimage_vhd.errors import VhdError
from diskimage_vhd.posix.io import file_identity
from diskimage_vhd.posix.io import KernelCopier
from diskimage_vhd.posix.io import open_input
from diskimage_vhd.posix.io import OpenFile


class OpenedInput(OpenFile):
    """A disk file named by the user, opened by the one opener.

    Remembers the size and modification time it was opened with, so that a
    conversion can refuse to finish from a file written meanwhile: a file
    cut and grown back, or rewritten in place, would otherwise give an
    image of neither version, silently.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)
        self.fd = open_input(self.path)
        try:
            self.identity = file_identity(self.fd)
        except BaseException:
            self.close()
            raise
        self.copier = KernelCopier(self.fd)

    def check_unchanged(self) -> None:
        """Raise VhdError if the file was written since it was opened."""
        size, mtime = file_identity(self.fd)
        if size != self.identity[0]:
            raise VhdError(self.path, 'changed during conversion (was '
                                      f'{self.identity[0]} bytes, now {size}); '
                                      'nothing was written')
        if mtime != self.identity[1]:
            raise VhdError(self.path, 'changed during conversion (written to '
                                      'while being read); nothing was written')
