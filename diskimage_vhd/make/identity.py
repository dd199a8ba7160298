"""The footer's timestamp and UUID: now and random, or reproducible on demand."""

from __future__ import annotations

import datetime
import os
import time
import uuid
from typing import Mapping, Optional, Union

from diskimage_vhd.errors import UsageError
from diskimage_vhd.format import constants as c
from diskimage_vhd.format.footer import Footer

# vhd-util check allows 30 minutes of clock skew; we allow none of our own.
FUTURE_TOLERANCE = 0
# The namespace of reproducible UUIDs: uuid5(NAMESPACE, sha256 hex digest).
NAMESPACE = uuid.UUID('5b0f2d0e-7c44-5d6a-9a55-64696d2d7668')


def parse_timestamp(text: Union[str, int]) -> int:
    """Unix seconds from ``1764105425`` or ISO 8601 (``2026-11-25T21:17:05Z``)."""
    if isinstance(text, int):
        return text
    text = text.strip()
    if text.lstrip('-').isdigit():
        return int(text)
    iso = text[:-1] + '+00:00' if text.endswith(('Z', 'z')) else text
    try:
        moment = datetime.datetime.fromisoformat(iso)
    except ValueError:
        raise UsageError(None, f'timestamp {text!r} is neither Unix seconds '
                               'nor ISO 8601') from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp())


def resolve_timestamp(explicit: Union[str, int, None] = None,
                      environ: Optional[Mapping[str, str]] = None,
                      now: Optional[float] = None) -> int:
    """The Unix time to stamp: explicit, else ``SOURCE_DATE_EPOCH``, else now.

    Never in the future (XenServer refuses such disks) and never before the
    VHD epoch (the field cannot hold it).
    """
    environ = os.environ if environ is None else environ
    now = time.time() if now is None else now
    if explicit is not None:
        stamp, origin = parse_timestamp(explicit), 'timestamp'
    elif environ.get('SOURCE_DATE_EPOCH'):
        stamp, origin = source_date_epoch(environ), 'SOURCE_DATE_EPOCH'
    else:
        return int(now)
    if stamp > now + FUTURE_TOLERANCE:
        raise UsageError(None, f'{origin} {stamp} is in the future; XenServer '
                               'refuses disks created in the future')
    if stamp < c.VHD_EPOCH or stamp - c.VHD_EPOCH > 0xFFFFFFFF:
        raise UsageError(None, f'{origin} {stamp} cannot be stored in a VHD '
                               '(it counts seconds from 2000-01-01)')
    return stamp


def source_date_epoch(environ: Mapping[str, str]) -> int:
    """``SOURCE_DATE_EPOCH``: whole Unix seconds, as its specification says."""
    text = environ['SOURCE_DATE_EPOCH'].strip()
    if not text.isdigit():
        raise UsageError(None, f'SOURCE_DATE_EPOCH: {text!r} is not a Unix '
                               'time (whole seconds since 1970-01-01 UTC)')
    return int(text)


def vhd_timestamp(unix_seconds: int) -> int:
    return unix_seconds - c.VHD_EPOCH


def unix_timestamp(vhd_seconds: int) -> int:
    return vhd_seconds + c.VHD_EPOCH


def is_reproducible(explicit_timestamp: Union[str, int, None],
                    environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether the build asked for reproducible output (``SOURCE_DATE_EPOCH``)."""
    environ = os.environ if environ is None else environ
    return explicit_timestamp is None and bool(environ.get('SOURCE_DATE_EPOCH'))


def derived_uuid(content_digest: bytes, timestamp: int) -> uuid.UUID:
    """A UUID that is the same whenever the image and its timestamp are."""
    return uuid.uuid5(NAMESPACE, f'{content_digest.hex()}:{timestamp}')


def stamped_footer(disk_type: int, size: int, unix_time: int,
                   unique_id: Optional[uuid.UUID], reproducible: bool,
                   content_digest: bytes = b'') -> Footer:
    """The footer to write: the UUID as given, else derived from the content
    when the build is reproducible, else random.
    """
    if unique_id is None:
        unique_id = (derived_uuid(content_digest, unix_time) if reproducible
                     else uuid.uuid4())
    return Footer.for_xenserver(disk_type, size, vhd_timestamp(unix_time),
                                unique_id)


def parse_uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise UsageError(None, f'not a UUID: {text!r}') from None
