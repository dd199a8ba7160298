"""Outputs that appear whole or not at all, and never harm a bystander."""

from __future__ import annotations

from collections.abc import Callable, Sequence
import errno
import os
import re
import stat

from diskimage_vhd.errors import os_error
from diskimage_vhd.errors import VhdError
from diskimage_vhd.posix.durable import DIRECTORY_FLAGS
from diskimage_vhd.posix.durable import flush_data
from diskimage_vhd.posix.durable import flush_directory
from diskimage_vhd.posix import guard
from diskimage_vhd.posix import outcome
from diskimage_vhd.posix import signals

# Temporary names: short and fixed in length, so any destination name the
# file system allows works, and random, so no one can guess or hold one.
TEMPORARY_PREFIX = '.dvhd-'
TEMPORARY_SUFFIX = '.tmp'
TEMPORARY_NAME = re.compile(r'\.dvhd-[0-9a-f]{8}\.tmp')
# Names tried before giving up (a clash is a one in 2^32 event).
ATTEMPTS = 64
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
    written.  Where the file system lacks ``O_TMPFILE``, or ``/proc`` (which
    the link goes through) is not mounted, the data is written to such a
    name from the start.  Only a name this object created is ever removed.

    The rename alone makes the output whole or absent whenever the process
    dies; ``sync`` also flushes the data before the rename and the
    directory after it, so that holds across a power cut too
    (``durable.py``).
    """

    def __init__(self, destination: str | os.PathLike[str],
                 notify: Callable[[str], None] | None = None,
                 sync: bool = False):
        self.destination = os.fspath(destination)
        self.sync = sync
        self.directory = guard.directory_of(self.destination)
        self.notify = notify
        self.fd = -1
        self.temporary: str | None = None
        self.replaced: os.stat_result | None = None

    def __enter__(self) -> AtomicOutput:
        _key, self.replaced = guard.check_output(self.destination)
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
        commit_together([self])

    def prepare(self) -> None:
        """Everything but the rename: permissions, data on disk, a name."""
        self._set_owner_and_mode()
        if self.sync:
            flush_data(self.fd)
        with signals.held():
            if self.temporary is None:
                self._link_unnamed()

    def publish(self) -> None:
        """The rename itself; the caller holds the signals and the lock."""
        os.replace(self.temporary, self.destination)
        self.temporary = None
        if self.sync:
            flush_directory(self.directory)

    def _set_owner_and_mode(self) -> None:
        """The replaced file's permissions if it is ours, else the umask's.

        Replacing a ``0600`` image must not publish it; and a file someone
        else made (in a shared directory, with mode 666) must not hand them
        the new one: it stays the running user's, said in one line.
        """
        fresh = 0o666 & ~_umask()
        replaced = self.replaced
        if replaced is None:
            os.fchmod(self.fd, fresh)
            return
        if replaced.st_uid != os.geteuid():
            os.fchmod(self.fd, fresh)
            if self.notify:
                self.notify(f'{self.destination}: was owned by user '
                            f'{replaced.st_uid}; the new file is owned by '
                            f'user {os.geteuid()}, mode {fresh:04o}')
            return
        try:
            os.fchown(self.fd, -1, replaced.st_gid)
        except PermissionError:  # not in that group, or root squashed
            pass
        os.fchmod(self.fd, stat.S_IMODE(replaced.st_mode) & 0o777)

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


def commit_together(outputs: Sequence[AtomicOutput]) -> None:
    """Rename ``outputs`` into place in order, as one step.

    The last is the image; its checksum files go first, so whoever sees
    the new image sees its checksums.  All of it happens under a lock on
    each directory, so two runs on one destination take turns instead of
    mixing their files, and with SIGINT and SIGTERM held: a signal before
    the first rename stops everything, one after it comes too late.
    """
    for output in outputs:
        output.prepare()
    with guard.locked_directories([o.destination for o in outputs]):
        # A signal held meanwhile is raised here, before any rename.
        with signals.held():
            for output in outputs:
                # A symbolic link or a directory put there since the first
                # check is refused, not replaced, before any rename.
                guard.existing(output.destination)
            for output in outputs:
                output.publish()
            signals.discard_pending()
    if outputs:
        outcome.record(f'{outputs[-1].destination} is complete')
