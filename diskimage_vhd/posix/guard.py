"""One rule for every file written: named safely, checked before a byte.

Every output (an image, a checksum file, ``vhd-util``'s ``-n``/``-o``) is
checked here before anything is written: it must not be a symbolic link
(the type check would follow it, the rename would replace the link
itself), nor anything but a regular file, nor the same file as an input
or as another output (compared by ``stat``: device and inode), and its
directory must take a new file of that name.  All outputs are checked
before the first is written, so a bad sidecar name never leaves a new
image beside a stale checksum.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
import contextlib
import errno
import fcntl
import os
import stat
import time

from diskimage_vhd.errors import os_error
from diskimage_vhd.errors import UsageError
from diskimage_vhd.errors import VhdError

SYMLINK = ('is a symbolic link; refusing to replace it (name the file '
           'itself, or use - for standard output)')
STDOUT_NAME = '-'
STDOUT_FILENO = 1
# How long a run waits for another run committing into the same directory.
LOCK_WAIT = 30.0
LOCK_POLL = 0.05
# What flock says where a file system has no such locks (NFS emulates
# them with fcntl locks, which a descriptor open for reading cannot take).
NO_LOCKS = (errno.ENOLCK, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF)

Key = tuple


def _key(found: os.stat_result) -> Key:
    return ('file', found.st_dev, found.st_ino)


def existing(path: str) -> os.stat_result | None:
    """The regular file an output would replace, or None if there is none.

    Refuses a symbolic link, a directory, a device, a FIFO or a socket.
    """
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return None
    except ValueError:
        raise VhdError(path, 'the name holds a NUL byte') from None
    except OSError as error:
        raise os_error(path, error) from None
    if stat.S_ISLNK(found.st_mode):
        raise VhdError(path, SYMLINK)
    if stat.S_ISDIR(found.st_mode):
        raise VhdError(path, 'is a directory')
    if not stat.S_ISREG(found.st_mode):
        raise VhdError(path, 'exists and is not a regular file; refusing to '
                             'replace it')
    return found


def directory_of(path: str) -> str:
    return os.path.dirname(os.path.abspath(path))


def check_output(path: str) -> tuple[Key, os.stat_result | None]:
    """Whether ``path`` can take a new file; its identity and what it holds.

    The identity of a file not yet there is its directory's and its name,
    so two outputs naming one new file are found too.
    """
    name = os.path.basename(path)
    if not name or name in ('.', '..'):
        raise VhdError(path, 'names a directory, not a file')
    try:
        encoded = os.fsencode(name)
    except UnicodeEncodeError:
        raise VhdError(path.encode('utf-8', 'backslashreplace').decode(),
                       'the name cannot be encoded for the file '
                       'system') from None
    found = existing(path)
    directory = directory_of(path)
    try:
        where = os.stat(directory)
    except FileNotFoundError:
        raise VhdError(path, 'destination directory does not exist') from None
    except OSError as error:
        raise os_error(path, error) from None
    if not stat.S_ISDIR(where.st_mode):
        raise VhdError(path, 'destination directory is not a directory')
    if _read_only(directory):
        raise VhdError(path, 'read-only file system', errno=errno.EROFS)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise VhdError(path, 'permission denied: cannot create a file in '
                             'its directory', errno=errno.EACCES)
    try:
        longest = os.pathconf(directory, 'PC_NAME_MAX')
    except (OSError, ValueError):
        longest = 255
    if longest > 0 and len(encoded) > longest:
        raise VhdError(path, 'file name too long', errno=errno.ENAMETOOLONG)
    if found is not None:
        return _key(found), found
    return ('new', where.st_dev, where.st_ino, encoded), None


def _read_only(directory: str) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        return False  # writing will say what is wrong


def check_all(outputs: Sequence[str], inputs: Sequence[str] = (),
              stdout: bool = False) -> None:
    """Refuse, before anything is written, any output that is unsafe.

    ``stdout`` says standard output is written too: it must not be an
    input either (``convert SRC - 1<>SRC``).
    """
    seen: dict[Key, str] = {}
    for path in inputs:
        try:
            seen.setdefault(_key(os.stat(path)), path)
        except (OSError, ValueError):
            continue  # reading it will say what is wrong
    if stdout:
        try:
            here = _key(os.fstat(STDOUT_FILENO))
        except OSError:
            here = None
        if here in seen:
            raise UsageError(STDOUT_NAME, f'standard output is '
                                          f'{seen[here]} itself, which is '
                                          'read; write to another file')
        if here is not None:
            seen[here] = STDOUT_NAME  # nor may a checksum file be it
    for path in outputs:
        key, _found = check_output(path)
        if key in seen:
            other = seen[key]
            what = ('the source itself' if other in inputs
                    else f'the same file as the output {other}')
            raise UsageError(path, f'is {what}; write to another name')
        seen[key] = path


@contextlib.contextmanager
def locked_directories(paths: Sequence[str],
                       wait: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock on each directory ``paths`` are in.

    Runs that commit into the same directory take turns: one run's image
    and checksum files are renamed in while no other run renames there, so
    the pair never mixes two runs.  The wait is bounded; then a one-line
    refusal, and nothing is replaced.
    """
    wait = LOCK_WAIT if wait is None else wait
    folders: dict[Key, str] = {}
    for path in paths:
        folder = directory_of(path)
        found = os.stat(folder)
        folders[_key(found)] = folder
    fds: list[int] = []
    try:
        for key in sorted(folders):  # one order everywhere: no deadlock
            fd = os.open(folders[key], os.O_RDONLY | os.O_DIRECTORY
                         | os.O_CLOEXEC)
            fds.append(fd)
            _lock(fd, folders[key], wait)
        yield
    finally:
        for fd in fds:
            os.close(fd)  # closing releases the lock


BUSY_DIRECTORY = ('another run is committing into this directory; nothing '
                  'was replaced (try again when it is done)')
BUSY_FILE = 'another run is working on this file; it is left as it was'


def _lock(fd: int, name: str, wait: float,
          busy: str = BUSY_DIRECTORY) -> None:
    """``flock(LOCK_EX)``, polled until ``wait`` seconds have passed."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        except OSError as error:
            if error.errno in NO_LOCKS:
                return  # a file system without locks: go on unlocked
            raise os_error(name, error) from None
        if time.monotonic() >= deadline:
            raise VhdError(name, busy, errno=errno.EWOULDBLOCK)
        time.sleep(LOCK_POLL)


def lock_file(fd: int, name: str, wait: float | None = None) -> None:
    """An exclusive lock on the file open as ``fd``, for in-place work."""
    _lock(fd, name, LOCK_WAIT if wait is None else wait, BUSY_FILE)


def still_named(fd: int, path: str) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        here, there = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return _key(here) == _key(there)
