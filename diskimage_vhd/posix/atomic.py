"""Outputs that appear whole or not at all, and never harm a bystander."""

from __future__ import annotations

import errno
import os
import re
import stat

from diskimage_vhd.errors import os_error
from diskimage_vhd.errors import VhdError
from diskimage_vhd.posix import signals

# Temporary names: short and fixed in length, so any destination name the
# file system allows works, and random, so no one can guess or hold one.
TEMPORARY_PREFIX = '.dvhd-'
TEMPORARY_SUFFIX = '.tmp'
TEMPORARY_NAME = re.compile(r'\.dvhd-[0-9a-f]{8}\.tmp')
# Names tried before giving up (a clash is a one in 2^32 event).
ATTEMPTS = 64
DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
NAMED_FLAGS = (os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
               | os.O_CLOEXEC)


def temporary_name() -> str:
    """A fresh ``.dvhd-XXXXXXXX.tmp``."""
    return f'{TEMPORARY_PREFIX}{os.urandom(4).hex()}{TEMPORARY_SUFFIX}'


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicOutput:
    """A file written under no name (or a random hidden one), then renamed.

    It prefers an unnamed ``O_TMPFILE`` in the destination directory, which
    leaves nothing behind even after SIGKILL, and links it in, under a
    random ``.dvhd-XXXXXXXX.tmp`` created exclusively, only when the data is
    flushed.  Where the file system lacks ``O_TMPFILE``, or ``/proc`` (which
    the link goes through) is not mounted, the data is written to such a
    name from the start.  Only a name this object created is ever removed.
    """

    def __init__(self, destination: str | os.PathLike[str]):
        self.destination = os.fspath(destination)
        self.directory = os.path.dirname(os.path.abspath(self.destination))
        self.fd = -1
        self.temporary: str | None = None
        self.replaced: os.stat_result | None = None

    def __enter__(self) -> AtomicOutput:
        if not os.path.isdir(self.directory):
            raise VhdError(self.destination, 'destination directory does not '
                                             'exist')
        self.replaced = self._check_destination()
        try:
            self.fd = os.open(self.directory,
                              os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
        except (AttributeError, OSError) as error:
            if isinstance(error, OSError) and error.errno in (
                    errno.EACCES, errno.EROFS, errno.ENOSPC, errno.EPERM):
                raise os_error(self.destination, error) from None
            self._open_named()
            return self
        if not os.path.exists(f'/proc/self/fd/{self.fd}'):
            # No /proc (a sandbox): the unnamed file could never be linked
            # in, so find out now rather than after writing all of it.
            os.close(self.fd)
            self.fd = -1
            self._open_named()
        return self

    def _check_destination(self) -> os.stat_result | None:
        """Refuse to rename over anything but a regular file; return its stat.

        Replacing ``/dev/null`` (or a FIFO a pipeline reads) with a regular
        file, as root, would break the machine rather than fail a command.
        """
        try:
            found = os.stat(self.destination)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise os_error(self.destination, error) from None
        if stat.S_ISDIR(found.st_mode):
            raise VhdError(self.destination, 'is a directory')
        if not stat.S_ISREG(found.st_mode):
            raise VhdError(self.destination, 'exists and is not a regular '
                                             'file; refusing to replace it')
        return found

    def _open_named(self) -> None:
        """Create a random hidden name exclusively and write there."""
        for _ in range(ATTEMPTS):
            path = os.path.join(self.directory, temporary_name())
            with signals.held():  # created, then at once known to __exit__
                try:
                    self.fd = os.open(path, NAMED_FLAGS, 0o600)
                except FileExistsError:
                    continue
                except OSError as error:
                    raise os_error(self.destination, error) from None
                self.temporary = path
            return
        raise VhdError(self.destination, 'cannot create a temporary file '
                                         'beside it: every name tried exists')

    def commit(self) -> None:
        """Flush the data, then give it the destination name in one step.

        A SIGINT or SIGTERM that arrives until the rename is delivered
        before it (the temporary file is removed, nothing is replaced); one
        that arrives during the rename comes too late and is dropped.
        """
        self._set_owner_and_mode()
        os.fsync(self.fd)
        with signals.held():
            if self.temporary is None:
                self._link_unnamed()
        # A signal held meanwhile is raised here, before the rename.
        with signals.held():
            os.replace(self.temporary, self.destination)
            self.temporary = None
            self._sync_directory()
            signals.discard_pending()

    def _set_owner_and_mode(self) -> None:
        """The replaced file's permissions (and owner, as root), else the
        umask's: replacing a ``0600`` image must not publish it.
        """
        if self.replaced is None:
            os.fchmod(self.fd, 0o666 & ~_umask())
            return
        if os.geteuid() == 0:
            try:
                os.fchown(self.fd, self.replaced.st_uid, self.replaced.st_gid)
            except PermissionError:  # root squashed (NFS): keep ours
                pass
        os.fchmod(self.fd, stat.S_IMODE(self.replaced.st_mode) & 0o777)

    def _link_unnamed(self) -> None:
        """Link the unnamed file in under a random name no one else holds."""
        directory = os.open(self.directory, DIRECTORY_FLAGS)
        try:
            for _ in range(ATTEMPTS):
                name = temporary_name()
                try:
                    # A dir_fd makes Python call linkat(AT_SYMLINK_FOLLOW),
                    # which links the file behind the /proc link.
                    os.link(f'/proc/self/fd/{self.fd}', name,
                            dst_dir_fd=directory)
                except FileExistsError:
                    continue
                self.temporary = os.path.join(self.directory, name)
                return
        finally:
            os.close(directory)
        raise FileExistsError(errno.EEXIST, 'every temporary name tried '
                                            'exists')

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, DIRECTORY_FLAGS)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def __exit__(self, exc_type: object, *rest: object) -> None:
        with signals.held():
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1
            if self.temporary is not None:
                try:
                    os.unlink(self.temporary)
                except FileNotFoundError:
                    pass
                self.temporary = None
