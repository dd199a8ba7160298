"""Reading fixed and dynamic VHDs, whoever wrote them.

The reader is the one definition of a readable disk: every reason it
refuses one is an InvalidVhdError with a stable ``kind``, and
``diskimage-vhd check`` reports the same reasons in the same words.  Work
and memory are bounded by the file's real content, whatever its header
claims.
"""

from __future__ import annotations

import array
from collections.abc import Iterator
import os

from diskimage_vhd.errors import InvalidVhdError
from diskimage_vhd.errors import NotAVhdError
from diskimage_vhd.errors import UsageError
from diskimage_vhd.format import bat as batlib
from diskimage_vhd.format.batmap import BatmapHeader
from diskimage_vhd.format.bitmap import bit_is_set
from diskimage_vhd.format import constants as c
from diskimage_vhd.format import creators
from diskimage_vhd.format.footer import Footer
from diskimage_vhd.format.header import DynamicHeader
from diskimage_vhd.format.layout import HeaderLayout
from diskimage_vhd.format import locate
from diskimage_vhd.format import sizing
from diskimage_vhd.format.units import blocks_for
from diskimage_vhd.image.data import DynamicData
from diskimage_vhd.image.data import FixedData
from diskimage_vhd.image.opened import OpenedInput
from diskimage_vhd.posix.extents import data_extents as file_data_extents
from diskimage_vhd.posix.extents import Extent
from diskimage_vhd.posix.io import file_size
from diskimage_vhd.posix.io import pread_full
from diskimage_vhd.posix.io import preadv_full

# The BAT is read whole, 4 bytes an entry: no more entries than 2 TiB needs
# at 512 KiB blocks (16 MiB of table), whatever the block size claimed, or
# a sparse file with a header claiming 2^32 entries would cost 16 GiB.
MAX_TABLE_ENTRIES = c.MAX_ADDRESSABLE_SIZE // (512 * 1024)
MIN_BLOCK_SIZE = c.SECTOR_SIZE
DATA_PAST_CHUNK = 1 << 20


class VhdImage(OpenedInput):
    """An open VHD: its structures, its allocated extents and its data."""

    def __init__(self, path: str | os.PathLike[str],
                 size_rule: str = sizing.AUTO):
        if size_rule not in sizing.SIZE_RULES:
            raise UsageError(None, f'unknown size rule {size_rule!r} (one of '
                                   f'{", ".join(sizing.SIZE_RULES)})')
        super().__init__(path)
        self.size_rule = size_rule
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    @property
    def block_size(self) -> int:
        """A dynamic disk's block size, as its header gives it (checked)."""
        return self.layout.block_size

    @property
    def bitmap_bytes(self) -> int:
        """A dynamic disk's bytes of sector bitmap before each block."""
        return self.layout.bitmap_bytes

    def _refuse(self, kind: str, problem: str) -> InvalidVhdError:
        return InvalidVhdError(self.path, problem, kind=kind)

    def _pread_exact(self, length: int, offset: int) -> bytes:
        data = pread_full(self.fd, length, offset)
        if len(data) != length:
            raise self._refuse('truncated', f'truncated: cannot read {length} '
                                            f'bytes at offset {offset}')
        return data

    # -- loading -----------------------------------------------------------

    def _load(self) -> None:
        self.file_size = file_size(self.fd)
        self.footer = self._read_footer()
        self.header: DynamicHeader | None = None
        self.bat: array.array | None = None
        self.batmap_header: BatmapHeader | None = None
        self.batmap: bytes | None = None
        # The data ends where the footer starts (511 bytes from the end
        # for an old short footer).
        self.data_end = max(locate.span(locate.end_place(self.file_size),
                                        self.file_size)[0], 0)
        if self.footer.disk_type == c.DISK_TYPE_FIXED:
            self._check_fixed_length()
            self.size = min(sizing.virtual_size(self.footer, self.size_rule,
                                                self._fixed_data_past),
                            self.data_end)
            self.data: FixedData | DynamicData = FixedData(
                self.fd, self.size, self.copier, self._pread_into)
        elif self.footer.is_dynamic:
            self._load_dynamic()
        else:
            raise self._refuse('disk-type', 'unknown disk type '
                                            f'{self.footer.disk_type}')

    def _read_footer(self) -> Footer:
        """The primary footer (the last 512 bytes, or 511: an old short
        one); else, as libvhd and qemu do, the copy at the start of a
        dynamic disk.
        """
        size = self.file_size
        if size < c.FOOTER_SIZE - 1:
            # No room for a footer: raw data (1 to 510 bytes), unless it is
            # empty or starts as a VHD does (a VHD cut short).
            head = pread_full(self.fd, len(c.FOOTER_COOKIE), 0)
            if not head.startswith(c.FOOTER_COOKIE):
                raise NotAVhdError(self.path, f'not a VHD: {size} bytes is '
                                              'too small', kind='not-a-vhd')
            raise self._refuse('too-small', f'not a VHD: {size} bytes is too '
                                            'small')
        found = locate.find_footer(size, self._pread_exact,
                                   (locate.end_place(size),))
        if found is not None:
            self._check_footer_checksum(found.footer, 'footer')
            return found.footer
        if size < c.FOOTER_SIZE:  # 511 bytes, not a short footer
            raise NotAVhdError(self.path, f'not a VHD: {size} bytes is too '
                                          'small', kind='not-a-vhd')
        found = locate.find_footer(
            size, self._pread_exact, (locate.COPY,),
            lambda copy: locate.has_cookie(copy) and copy.is_dynamic)
        if found is not None:
            self._check_footer_checksum(found.footer, 'footer copy')
            return found.footer
        raise NotAVhdError(self.path, 'not a VHD: no footer cookie '
                                      '"conectix" at the end of the file',
                           kind='not-a-vhd')

    def _check_fixed_length(self) -> None:
        """A fixed disk's data is exactly ``current_size`` bytes.

        Every writer (libvhd, qemu, Hyper-V, this package) lays it out so;
        a file shorter or longer than its footer says is damaged or not what
        it claims, and no size read from it can be trusted: it is refused
        rather than cut or padded to a size of our choosing.  (qemu sizes
        some disks by their CHS geometry, format/sizing.py, yet writes
        ``current_size`` bytes of data, so the data is held to that.)
        """
        claimed = self.footer.current_size
        if self.data_end != claimed:
            raise self._refuse(
                'fixed-size-mismatch',
                f'fixed disk holds {self.data_end} bytes of data, but '
                f'its footer says {claimed}')

    def _check_footer_checksum(self, footer: Footer, what: str) -> None:
        if not footer.checksum_ok():
            raise self._refuse('footer-checksum',
                               f'{what} has an invalid checksum')

    def _load_dynamic(self) -> None:
        offset = self.footer.data_offset
        if offset % c.SECTOR_SIZE or offset + c.HEADER_SIZE > self.file_size:
            raise self._refuse('header-offset', f'header offset {offset} is '
                                                'outside the file')
        header = DynamicHeader.parse(self._pread_exact(c.HEADER_SIZE, offset))
        if header.cookie != c.HEADER_COOKIE:
            raise self._refuse('header-cookie', 'header has an invalid cookie')
        if header.checksum != header.computed_checksum():
            raise self._refuse('header-checksum',
                               'header has an invalid checksum')
        bs = header.block_size
        if bs < MIN_BLOCK_SIZE or bs > c.BLOCK_SIZE or bs & (bs - 1):
            raise self._refuse('block-size', f'unsupported block size {bs}')
        entries = header.max_table_entries
        if (entries * bs > c.MAX_ADDRESSABLE_SIZE
                or entries > MAX_TABLE_ENTRIES):
            raise self._refuse('table-size', f'max table entries {entries} '
                                             'is beyond any VHD size')
        if (header.table_offset % c.SECTOR_SIZE
                or header.table_end > self.data_end):
            raise self._refuse('table-past-end', 'block allocation table runs '
                                                 'past the end of the file')
        self.header = header
        self.layout = HeaderLayout.of(self.footer, header)
        self.bat = batlib.decode(self._pread_exact(self.layout.entries_bytes,
                                                   header.table_offset))
        self._load_batmap()
        self.size = sizing.virtual_size(self.footer, self.size_rule,
                                        self._dynamic_data_past)
        self.data = DynamicData(
            self.fd, self.size, self.copier, self._pread_into, self.bat,
            self.layout, self.require_standalone,
            self.footer.is_differencing)
        self._check_blocks()

    def _fixed_data_past(self, offset: int) -> bool:
        """Whether a fixed disk holds a non-zero byte from ``offset`` on."""
        for start, end in file_data_extents(self.fd, offset, self.data_end):
            while start < end:
                length = min(end - start, DATA_PAST_CHUNK)
                if any(pread_full(self.fd, length, start)):
                    return True
                start += length
        return False

    def _dynamic_data_past(self, offset: int) -> bool:
        """Whether a block's bitmap marks a sector written from ``offset``
        on, within the current size (a bitmap past the file counts as data:
        the block checks refuse it later).
        """
        assert self.bat is not None
        bs = self.block_size
        end = min(self.footer.current_size, len(self.bat) * bs)
        for index in range(offset // bs, blocks_for(end, bs)):
            entry = self.bat[index]
            if entry == c.UNALLOCATED:
                continue
            bitmap = pread_full(self.fd, self.bitmap_bytes,
                                entry * c.SECTOR_SIZE)
            if len(bitmap) < self.bitmap_bytes:
                return True
            first = max(offset - index * bs, 0) // c.SECTOR_SIZE
            last = (min(end - index * bs, bs) - 1) // c.SECTOR_SIZE
            if any(bit_is_set(bitmap, sector)
                   for sector in range(first, last + 1)):
                return True
        return False

    def _load_batmap(self) -> None:
        """XenServer's batmap, where a tapdisk creator says there may be one."""
        if creators.batmap_expected(self.footer.creator_application,
                                    self.footer.creator_version) is False:
            return
        offset = self.layout.batmap_header_offset
        if offset + c.SECTOR_SIZE > self.data_end:
            return
        header = BatmapHeader.parse(self._pread_exact(c.SECTOR_SIZE, offset))
        if header.cookie != c.BATMAP_COOKIE:
            return
        self.batmap_header = header
        length = header.batmap_size * c.SECTOR_SIZE
        if header.batmap_offset + length <= self.data_end \
                and length <= len(self.bat) + c.SECTOR_SIZE:
            self.batmap = pread_full(self.fd, length, header.batmap_offset)

    def _metadata_end(self) -> int:
        """The first byte past the header, the padded BAT and the batmap."""
        if self.batmap_header is None:
            return self.layout.metadata_end()
        if self.batmap is None:  # a map too large to read is not held
            return self.layout.metadata_end(self.layout.batmap_header_offset)
        return self.layout.metadata_end(self.batmap_header.batmap_offset
                                        + len(self.batmap))

    def _check_blocks(self) -> None:
        """Every block of the virtual disk lies inside the file, after the
        metadata, and no two share space.

        A block that overlaps another or the metadata would make a small
        file convert to a huge disk of the same bytes again and again.
        Entries past the virtual size are never read, and libvhd ignores
        them too: a stale one there does not make the disk unreadable.
        """
        span = self.layout.block_span
        sectors = span // c.SECTOR_SIZE
        metadata_end = self._metadata_end()
        used = []
        for index, entry in enumerate(self.bat[:self.used_entries]):
            if entry == c.UNALLOCATED:
                continue
            start = entry * c.SECTOR_SIZE
            if start < metadata_end:
                raise self._refuse('block-in-metadata',
                                   f'block {index} (offset 0x{entry:x}) '
                                   'clobbers headers')
            if start + span > self.data_end:
                raise self._refuse('block-past-end',
                                   f'block {index} (sector {entry}) runs past '
                                   'the end of the file')
            used.append((entry, index))
        used.sort()
        for (entry, index), (other, other_index) in zip(used, used[1:]):
            if other - entry < sectors:
                first, second = sorted(((index, entry), (other_index, other)))
                raise self._refuse(
                    'block-overlap',
                    f'block {first[0]} (offset 0x{first[1]:x}) clobbers block '
                    f'{second[0]} (offset 0x{second[1]:x})')

    def require_standalone(self) -> None:
        """A differencing disk's data needs its parent: it is read only
        through its chain (image/chain.py), never alone as if unwritten
        sectors were zeros.
        """
        if self.footer.is_differencing:
            raise self._refuse('differencing', 'is a differencing disk; its '
                                               'parent chain cannot be read')

    # -- queries -----------------------------------------------------------

    @property
    def is_dynamic(self) -> bool:
        return self.header is not None

    @property
    def used_entries(self) -> int:
        """BAT entries that map the virtual disk (the rest are never read)."""
        return self.data.used_entries

    def allocated_blocks(self) -> int:
        return self.data.allocated_blocks()

    def data_extents(self) -> Iterator[Extent]:
        """Ranges of the virtual disk that may hold non-zero data, in order."""
        return self.data.data_extents()

    def read_into(self, offset: int, view: memoryview) -> None:
        """Fill ``view`` with the virtual disk's bytes from ``offset``."""
        if offset + len(view) > self.size:
            raise ValueError('read past the end of the virtual disk')
        self.data.read_into(offset, view)

    def will_need(self, offset: int, length: int) -> None:
        """Read ahead what the disk's layout lets be read ahead."""
        self.data.will_need(offset, length)

    def copy_range(self, fd: int, offset: int, length: int,
                   out_offset: int) -> int:
        """Copy virtual bytes to ``fd`` in the kernel; return how many were
        (fewer, none even, leaves the rest to the caller's reads).
        """
        return self.data.copy_range(fd, offset, length, out_offset)

    def read(self, offset: int, length: int) -> bytes:
        buffer = bytearray(length)
        self.read_into(offset, memoryview(buffer))
        return bytes(buffer)

    def _pread_into(self, view: memoryview, offset: int) -> None:
        done = preadv_full(self.fd, view, offset)
        if done < len(view):
            raise self._refuse('truncated', 'truncated: data ends at offset '
                                            f'{offset + done}')
