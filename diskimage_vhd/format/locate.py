"""Where a VHD's footer is, and the one function that finds it.

A footer may sit in three places: the last 512 bytes (every writer); the
last 511 (pre-2004 Virtual PC and old tapdisks wrote a footer one byte
short); and the copy at offset 0 that starts every dynamic disk, which
libvhd and qemu fall back on when the end is damaged.  Callers say which
places they look at, in which order, and what footer they accept there;
their refusals (errors, errnos, words) stay theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import dataclasses

from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer

END = 'end'
SHORT = 'short'
COPY = 'copy'
# libvhd's vhd_read_footer: the end, a short footer, then the copy.
LIBVHD_PLACES = (END, SHORT, COPY)

Read = Callable[[int, int], bytes]  # (length, offset) -> bytes, short at EOF


@dataclasses.dataclass(frozen=True, slots=True)
class Located:
    """A footer found: where (a place and its offset), its bytes as read
    (511 of them for a short footer) and the footer they parse as.
    """

    place: str
    offset: int
    raw: bytes
    footer: Footer


def span(place: str, size: int) -> tuple[int, int]:
    """Offset and length of ``place`` in a file of ``size`` bytes (the
    offset is negative where the file is too small to hold it).
    """
    if place == END:
        return size - c.FOOTER_SIZE, c.FOOTER_SIZE
    if place == SHORT:
        return size - (c.FOOTER_SIZE - 1), c.FOOTER_SIZE - 1
    if place == COPY:
        return 0, c.FOOTER_SIZE
    raise ValueError(f'unknown footer place {place!r}')


def end_place(size: int) -> str:
    """Where a file's own footer is: the last 511 bytes of a file one byte
    short of whole sectors, else the last 512.
    """
    return SHORT if size % c.SECTOR_SIZE == c.SECTOR_SIZE - 1 else END


def read_at(place: str, size: int, read: Read) -> Located | None:
    """The footer bytes at ``place`` (None where the file cannot hold them
    or they cannot be read whole), parsed whatever they hold.
    """
    offset, length = span(place, size)
    if offset < 0:
        return None
    raw = read(length, offset)
    if len(raw) != length:
        return None
    return Located(place, offset, raw,
                   Footer.parse(raw.ljust(c.FOOTER_SIZE, b'\0')))


def has_cookie(footer: Footer) -> bool:
    return footer.cookie == c.FOOTER_COOKIE


def find_footer(size: int, read: Read, places: Sequence[str],
                accept: Callable[[Footer], bool] = has_cookie
                ) -> Located | None:
    """The first footer ``accept`` takes among ``places``, in order."""
    for place in places:
        located = read_at(place, size, read)
        if located is not None and accept(located.footer):
            return located
    return None
