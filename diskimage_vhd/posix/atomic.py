"""Outputs that appear whole or not at all."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from typing import Optional

from diskimage_vhd.errors import describe_os_error
from diskimage_vhd.errors import VhdError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicOutput:
    """A file written under no name (or a hidden temporary one), then renamed.

    It prefers an unnamed ``O_TMPFILE`` in the destination directory, which
    leaves nothing behind even after SIGKILL, and links it in only when the
    data is flushed; where the file system lacks ``O_TMPFILE`` it falls back
    to ``.NAME.XXXXXX.tmp`` beside the destination, removed on any failure.
    """

    def __init__(self, destination: str | os.PathLike[str]):
        self.destination = os.fspath(destination)
        self.directory = os.path.dirname(os.path.abspath(self.destination))
        self.fd = -1
        self.temporary: Optional[str] = None

    def __enter__(self) -> AtomicOutput:
        if not os.path.isdir(self.directory):
            raise VhdError(self.destination, 'destination directory does not '
                                             'exist')
        self._check_destination()
        try:
            self.fd = os.open(self.directory,
                              os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC,
                              0o666 & ~_umask())
        except (AttributeError, OSError) as error:
            if isinstance(error, OSError) and error.errno in (
                    errno.EACCES, errno.EROFS, errno.ENOSPC, errno.EPERM):
                raise VhdError(self.destination,
                               describe_os_error(error)) from None
            self._open_named()
        return self

    def _check_destination(self) -> None:
        """Refuse to rename over anything but a regular file.

        Replacing ``/dev/null`` (or a FIFO a pipeline reads) with a regular
        file, as root, would break the machine rather than fail a command.
        """
        try:
            mode = os.stat(self.destination).st_mode
        except FileNotFoundError:
            return
        except OSError as error:
            raise VhdError(self.destination, describe_os_error(error)) from None
        if stat.S_ISDIR(mode):
            raise VhdError(self.destination, 'is a directory')
        if not stat.S_ISREG(mode):
            raise VhdError(self.destination, 'exists and is not a regular '
                                             'file; refusing to replace it')

    def _open_named(self) -> None:
        base = os.path.basename(self.destination)
        try:
            self.fd, self.temporary = tempfile.mkstemp(
                prefix=f'.{base}.', suffix='.tmp', dir=self.directory)
        except OSError as error:
            raise VhdError(self.destination, describe_os_error(error)) from None
        os.fchmod(self.fd, 0o666 & ~_umask())

    def commit(self) -> None:
        """Flush the data, then give it the destination name in one step."""
        os.fsync(self.fd)
        if self.temporary is None:
            name = os.path.join(
                self.directory,
                f'.{os.path.basename(self.destination)}.{os.getpid()}.tmp')
            # Named before it exists: a SIGINT or SIGTERM that lands right
            # after the link still has __exit__ remove it.
            self.temporary = name
            self._link_unnamed(name)
        os.replace(self.temporary, self.destination)
        self.temporary = None
        self._sync_directory()

    def _link_unnamed(self, path: str) -> None:
        directory = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            # A dir_fd makes Python call linkat(AT_SYMLINK_FOLLOW), which
            # links the file behind the /proc link rather than the link.
            os.link(f'/proc/self/fd/{self.fd}', os.path.basename(path),
                    dst_dir_fd=directory)
        finally:
            os.close(directory)

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.temporary is not None:
            try:
                os.unlink(self.temporary)
            except FileNotFoundError:
                pass
            self.temporary = None
