"""Files inside the file systems of a virtual disk, read without mounting.

The boot rule must know whether a boot loader's configuration, the kernel
it names, or an EFI loader exists inside a partition.  Well-kept readers do
the file-system work (libyal's libfsext for ext2/3/4, pyfatfs for FAT);
this module gives them a read-only file object over the disk and keeps
them bounded: only named paths are looked up, files are read up to
``MAX_FILE`` bytes, symbolic links are followed ``MAX_LINKS`` deep, a FAT
whose table is larger than ``MAX_FAT_TABLE`` is not parsed, and any error
of a library on a damaged or hostile file system becomes a
``FileSystemError`` (a finding for the caller), never a traceback.
"""

from __future__ import annotations

import io
import posixpath
import struct
from typing import Protocol
import warnings

from pyfatfs.PyFat import PyFat
from pyfatfs import PyFATException
import pyfsext

from diskimage_vhd.image.filesystems import Disk
from diskimage_vhd.image.filesystems import read_at

# Configuration files are small; a kernel is only looked up, never read.
MAX_FILE = 1024 * 1024
MAX_LINKS = 8
# pyfatfs reads the whole FAT into memory: 16 MiB holds a 4-million-cluster
# FAT32, far more than any EFI system partition.
MAX_FAT_TABLE = 16 * 1024 * 1024

EXT_KINDS = ('ext2', 'ext3', 'ext4')
FAT_KINDS = ('vfat',)


class FileSystemError(Exception):
    """The file system could not be read (damaged, hostile, unsupported)."""


class Volume(Protocol):
    """What the boot rule asks of a file system."""

    def exists(self, path: str) -> bool:
        ...

    def read(self, path: str) -> bytes | None:
        ...


class DiskWindow(io.RawIOBase):
    """``size`` bytes of a disk from ``offset``, as a read-only file."""

    def __init__(self, disk: Disk, offset: int, size: int):
        super().__init__()
        self._disk = disk
        self._offset = offset
        self._size = max(0, min(size, disk.size - offset))
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position,
                io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError('seek before the start of the file system')
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def get_size(self) -> int:
        """The length, as libfsext's file-object interface asks for it."""
        return self._size

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast('B')
        length = max(0, min(len(view), self._size - self._position))
        if length:
            view[:length] = read_at(self._disk, self._offset + self._position,
                                    length)
        self._position += length
        return length


class ExtVolume:
    """An ext2/3/4 file system, read by libfsext."""

    def __init__(self, window: DiskWindow):
        self._volume = pyfsext.volume()
        try:
            self._volume.open_file_object(window)
        except Exception as error:  # libfsext raises IOError and others
            raise FileSystemError(f'ext file system unreadable ({error})'
                                  ) from None

    def _entry(self, path: str):
        for _ in range(MAX_LINKS):
            try:
                entry = self._volume.get_file_entry_by_path(path)
            except Exception as error:
                raise FileSystemError(f'cannot look up {path} ({error})'
                                      ) from None
            if entry is None:
                return None
            target = entry.symbolic_link_target
            if not target:
                return entry
            path = posixpath.normpath(posixpath.join(posixpath.dirname(path),
                                                     target))
        raise FileSystemError(f'{path}: more than {MAX_LINKS} symbolic links')

    def exists(self, path: str) -> bool:
        return self._entry(path) is not None

    def read(self, path: str) -> bytes | None:
        entry = self._entry(path)
        if entry is None:
            return None
        try:
            return entry.read_buffer(min(entry.size, MAX_FILE))
        except Exception as error:
            raise FileSystemError(f'cannot read {path} ({error})') from None


class FatVolume:
    """A FAT file system (the EFI system partition), read by pyfatfs."""

    def __init__(self, window: DiskWindow):
        boot = read_at(window._disk, window._offset, 512)
        sector, _per_cluster, _reserved, copies = struct.unpack_from(
            '<HBHB', boot, 11)
        per_fat = struct.unpack_from('<H', boot, 22)[0] or \
            struct.unpack_from('<I', boot, 36)[0]
        if per_fat * sector * max(copies, 1) > MAX_FAT_TABLE:
            raise FileSystemError(f'FAT of {per_fat} sectors is larger than '
                                  'any EFI system partition needs')
        self._fat = PyFat()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')  # "not cleanly unmounted"
                self._fat.set_fp(window)
        except Exception as error:
            raise FileSystemError(f'FAT file system unreadable ({error})'
                                  ) from None

    def _entry(self, path: str):
        try:
            return self._fat.root_dir.get_entry(path.strip('/'))
        except PyFATException:
            return None
        except Exception as error:
            raise FileSystemError(f'cannot look up {path} ({error})'
                                  ) from None

    def exists(self, path: str) -> bool:
        return self._entry(path) is not None

    def read(self, path: str) -> bytes | None:
        entry = self._entry(path)
        if entry is None or entry.is_directory():
            return None
        chunks = []
        try:
            for chunk in self._fat.read_cluster_contents(entry.get_cluster()):
                chunks.append(chunk)
                if sum(map(len, chunks)) >= min(entry.filesize, MAX_FILE):
                    break
        except Exception as error:
            raise FileSystemError(f'cannot read {path} ({error})') from None
        return b''.join(chunks)[:min(entry.filesize, MAX_FILE)]


def open_volume(disk: Disk, offset: int, size: int,
                kind: str | None) -> Volume | None:
    """A reader for the ``kind`` file system at ``offset``; None for a kind
    the boot rule does not look into.  Raises FileSystemError.
    """
    window = DiskWindow(disk, offset, size)
    if kind in EXT_KINDS:
        return ExtVolume(window)
    if kind in FAT_KINDS:
        return FatVolume(window)
    return None
