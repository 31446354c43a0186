"""STIX 2.1 timestamps as integer microseconds since the Unix epoch.

STIX timestamps are RFC 3339 strings in UTC with a literal ``Z`` and any number
of fractional digits. The store keeps them as integers so that ordering and
comparison are exact and cheap; sub-microsecond digits are truncated (STIX
itself only requires millisecond precision for ``created`` / ``modified``).
"""

from __future__ import annotations

import calendar
import re
import time
from functools import lru_cache

# ASCII digits only, and \Z rather than $ (which would also accept a trailing newline).
_TIMESTAMP = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.([0-9]+))?Z\Z",
)
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class TimestampError(ValueError):
    """A string is not a STIX 2.1 timestamp."""


@lru_cache(maxsize=16384)
def _day_number(date: str) -> int:
    """Days since the epoch of ``YYYY-MM-DD`` (digits already checked); raises if no such day.

    Cached: the write path sees the same few dates over and over.
    """
    year, month, day = int(date[0:4]), int(date[5:7]), int(date[8:10])
    if not 1 <= month <= 12 or not 1 <= day <= _DAYS[month - 1]:
        raise TimestampError("no such date")
    if month == 2 and day == 29 and not calendar.isleap(year):
        raise TimestampError(f"no such date ({year} is not a leap year)")
    return _days_from_civil(year, month, day)


def parse_timestamp(value: object) -> int:
    """Return ``value`` (a STIX timestamp string) as microseconds since the epoch."""
    if not isinstance(value, str):
        raise TimestampError(f"expected a timestamp string, got {type(value).__name__}")
    return _parse(value)


@lru_cache(maxsize=65536)
def _parse(value: str) -> int:
    """Cached: one object carries the same timestamp in several properties."""
    match = _TIMESTAMP.match(value)
    if match is None:
        raise TimestampError(f"{value!r} is not a STIX timestamp (YYYY-MM-DDTHH:MM:SS[.s]Z)")
    try:
        days = _day_number(value[:10])
    except TimestampError as exc:
        raise TimestampError(f"{value!r} has {exc}") from None
    hour, minute, second = int(value[11:13]), int(value[14:16]), int(value[17:19])
    if hour > 23 or minute > 59 or second > 60:
        raise TimestampError(f"{value!r} has no such time of day")
    if second == 60:
        second = 59  # a leap second sorts as the last second of its minute
    fraction = match.group(1)
    micros = int((fraction + "000000")[:6]) if fraction else 0
    return ((days * 86400 + hour * 3600 + minute * 60 + second) * 1_000_000) + micros


def format_timestamp(micros: int) -> str:
    """Format microseconds since the epoch as a STIX timestamp with microseconds."""
    seconds, fraction = divmod(micros, 1_000_000)
    parts = time.gmtime(seconds)
    return (
        f"{parts.tm_year:04d}-{parts.tm_mon:02d}-{parts.tm_mday:02d}T"
        f"{parts.tm_hour:02d}:{parts.tm_min:02d}:{parts.tm_sec:02d}.{fraction:06d}Z"
    )


def now_micros() -> int:
    """The current time as microseconds since the epoch."""
    return time.time_ns() // 1000


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468
