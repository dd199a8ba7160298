"""The partition table of a virtual disk: MBR (with logical partitions) or GPT.

nova grows a root disk only if it has exactly one partition, numbered 1,
holding ext3 or ext4; this module reads what parted would list, the way
parted numbers it, so the readiness check can say so before upload.  The
disk is untrusted: every size and count is checked before it is used, the
GPT header and entry array must match their CRC32, and the reads are
bounded (a few KiB for an MBR chain, at most ``MAX_ENTRY_BYTES`` for GPT).
"""

from __future__ import annotations

import dataclasses
import struct
import uuid
import zlib

from diskimage_vhd.image.filesystems import Disk
from diskimage_vhd.image.filesystems import identify
from diskimage_vhd.image.filesystems import read_at

SECTOR = 512
MBR_SIGNATURE = b'\x55\xaa'
MBR_ENTRIES = 446
MBR_ENTRY = struct.Struct('<B3sB3sII')
MBR_PROTECTIVE = 0xEE
MBR_EXTENDED = (0x05, 0x0F, 0x85)
# Logical partitions followed in an extended partition: bounds a looping
# or endless EBR chain.  parted itself stops well before (it numbers up
# to 60 on Linux).
MAX_LOGICAL = 128
# EBRs read in one extended partition, empty or not: a chain of empty EBRs
# holds no partition, so MAX_LOGICAL alone let 256 MiB of them be walked.
MAX_EBRS = 256
# Partitions whose file system is probed; a table may list more.
MAX_PROBED = 128

GPT_SIGNATURE = b'EFI PART'
GPT_HEADER = struct.Struct('<8sIIIIQQQQ16sQIII')
GPT_ENTRY = struct.Struct('<16s16sQQQ72s')
GPT_MIN_HEADER = GPT_HEADER.size  # 92
# The entry array is read whole: 4096 entries of 128 bytes is 32 times
# what every partitioning tool writes, and still only 512 KiB.
MAX_ENTRY_BYTES = 512 * 1024


class PartitionTableError(ValueError):
    """The table is there but cannot be trusted (bad CRC, out of bounds)."""


@dataclasses.dataclass(frozen=True)
class Partition:
    """One partition as parted lists it: number, extent, type, contents."""

    number: int
    start: int
    size: int
    type: str
    filesystem: str | None = None
    extended: bool = False


@dataclasses.dataclass(frozen=True)
class PartitionTable:
    """``scheme`` is 'mbr', 'gpt' or None (no table: ``whole_disk`` is the
    file system written straight onto the disk, if any).
    """

    scheme: str | None
    partitions: tuple[Partition, ...] = ()
    whole_disk: str | None = None


def read_partition_table(disk: Disk) -> PartitionTable:
    """Read ``disk``'s table and identify each partition's file system.

    Raises PartitionTableError for a table that is present but corrupt.
    """
    mbr = read_at(disk, 0, SECTOR)
    entries = _mbr_entries(mbr)
    if not entries:
        # An empty table or none: a file system may start at sector 0 (a
        # FAT boot sector carries the MBR's signature and a blank table).
        whole = identify(disk, 0, disk.size)
        if whole or entries is None:
            return PartitionTable(None, (), whole)
        return PartitionTable('mbr')
    if any(kind == MBR_PROTECTIVE for _n, kind, _s, _l in entries):
        partitions = _gpt_partitions(disk)
        scheme = 'gpt'
    else:
        partitions = _mbr_partitions(disk, entries)
        scheme = 'mbr'
    probed = []
    for index, part in enumerate(partitions):
        if not part.extended and index < MAX_PROBED:
            part = dataclasses.replace(
                part, filesystem=identify(disk, part.start, part.size))
        probed.append(part)
    return PartitionTable(scheme, tuple(probed))


def _mbr_entries(sector: bytes) -> list[tuple[int, int, int, int]] | None:
    """(number, type, first sector, sectors) of the used primary entries,
    or None if the sector is no MBR (a file system's boot sector, zeros).
    """
    if sector[510:512] != MBR_SIGNATURE:
        return None
    entries = []
    for number in range(1, 5):
        status, _chs, kind, _end, first, sectors = MBR_ENTRY.unpack_from(
            sector, MBR_ENTRIES + (number - 1) * MBR_ENTRY.size)
        if status not in (0x00, 0x80):
            return None  # boot code of a FAT boot sector, not a table
        if kind and sectors:
            entries.append((number, kind, first, sectors))
    return entries


def _extent(disk: Disk, number: int, first: int, sectors: int) -> None:
    if sectors == 0 or (first + sectors) * SECTOR > disk.size:
        raise PartitionTableError(
            f'partition {number} (sectors {first}-{first + sectors - 1}) '
            f'lies outside the {disk.size}-byte disk')


def _mbr_partitions(disk: Disk, entries: list[tuple[int, int, int, int]]
                    ) -> list[Partition]:
    partitions = []
    for number, kind, first, sectors in entries:
        _extent(disk, number, first, sectors)
        extended = kind in MBR_EXTENDED
        partitions.append(Partition(number, first * SECTOR, sectors * SECTOR,
                                    f'0x{kind:02x}', extended=extended))
        if extended:
            partitions += _logical(disk, first, sectors)
    return partitions


def _logical(disk: Disk, base: int, length: int) -> list[Partition]:
    """Follow the EBR chain of the extended partition at ``base``."""
    logical: list[Partition] = []
    ebr = base
    seen = set()
    while (ebr not in seen and len(logical) < MAX_LOGICAL
           and len(seen) < MAX_EBRS):
        seen.add(ebr)
        sector = read_at(disk, ebr * SECTOR, SECTOR)
        if sector[510:512] != MBR_SIGNATURE:
            break
        _s, _c, kind, _e, first, sectors = MBR_ENTRY.unpack_from(
            sector, MBR_ENTRIES)
        if kind and sectors:
            number = 5 + len(logical)
            _extent(disk, number, ebr + first, sectors)
            logical.append(Partition(number, (ebr + first) * SECTOR,
                                     sectors * SECTOR, f'0x{kind:02x}'))
        _s, _c, kind, _e, first, sectors = MBR_ENTRY.unpack_from(
            sector, MBR_ENTRIES + MBR_ENTRY.size)
        if kind not in MBR_EXTENDED or not sectors or first >= length:
            break
        ebr = base + first
    return logical


def _gpt_partitions(disk: Disk) -> list[Partition]:
    """The used entries of the primary GPT, or of the backup if the
    primary is damaged (as parted falls back).
    """
    last_lba = disk.size // SECTOR - 1
    problems = []
    for lba in (1, last_lba):
        try:
            return _gpt_entries(disk, lba)
        except PartitionTableError as error:
            problems.append(str(error))
    raise PartitionTableError('GPT unreadable: ' + '; '.join(problems))


def _gpt_entries(disk: Disk, lba: int) -> list[Partition]:
    where = 'primary' if lba == 1 else 'backup'
    header = read_at(disk, lba * SECTOR, SECTOR)
    (signature, _revision, header_size, crc, _reserved, current, _backup,
     _first_usable, _last_usable, _guid, entries_lba, count, entry_size,
     entries_crc) = GPT_HEADER.unpack_from(header)
    if signature != GPT_SIGNATURE:
        raise PartitionTableError(f'no {where} GPT header')
    if not GPT_MIN_HEADER <= header_size <= SECTOR:
        raise PartitionTableError(f'{where} GPT header size {header_size}')
    blank = header[:16] + bytes(4) + header[20:header_size]
    if zlib.crc32(blank) != crc:
        raise PartitionTableError(f'{where} GPT header CRC mismatch')
    if current != lba:
        raise PartitionTableError(f'{where} GPT header says it is at LBA '
                                  f'{current}, not {lba}')
    if entry_size < GPT_ENTRY.size or entry_size % 128 \
            or count * entry_size > MAX_ENTRY_BYTES:
        raise PartitionTableError(f'{where} GPT entry array of {count} x '
                                  f'{entry_size} bytes is not plausible')
    length = count * entry_size
    if (entries_lba * SECTOR) + length > disk.size:
        raise PartitionTableError(f'{where} GPT entries lie outside the disk')
    array = read_at(disk, entries_lba * SECTOR, length)
    if zlib.crc32(array) != entries_crc:
        raise PartitionTableError(f'{where} GPT entry array CRC mismatch')
    partitions = []
    for index in range(count):
        kind, _unique, first, last, _attributes, _name = \
            GPT_ENTRY.unpack_from(array, index * entry_size)
        if kind == bytes(16):
            continue
        if last < first:
            raise PartitionTableError(f'partition {index + 1} ends before '
                                      'it starts')
        _extent(disk, index + 1, first, last - first + 1)
        partitions.append(Partition(
            index + 1, first * SECTOR, (last - first + 1) * SECTOR,
            str(uuid.UUID(bytes_le=kind)).upper()))
    return partitions
