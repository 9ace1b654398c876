"""Times in Prow's files (RFC 3339 in UTC) as epoch seconds, without datetime parsing: a build
has a dozen and a backfill a million. Pure."""

from __future__ import annotations

import functools
import re
from datetime import date
from typing import Any

# Plausible step times: 2000-01-01 .. 2100-01-01 UTC; anything else is corrupt data.
_MIN_TS = 946_684_800


_MAX_TS = 4_102_444_800


_UNIX_DAY_ONE = date(1970, 1, 1).toordinal()


# RFC 3339 as Go marshals time.Time: 0-9 fractional digits, then Z or a +hh:mm offset.
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.[0-9]{1,9})?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)


def epoch_seconds(value: Any) -> int | None:
    """Floor of an RFC 3339 time in epoch seconds; None when absent, malformed or implausible.

    Computed from the fields (no datetime parsing of the text: it runs for every step of
    every build): the fraction never changes the floor, as offsets are whole minutes.
    """
    if not isinstance(value, str):
        return None  # null, absent, numbers (NaN, Infinity included) and other JSON
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, sign, off_h, off_m = match.groups()
    days = _unix_day(year, month, day)
    # Hour 24, minute 60 and the like; a leap second (:60) is refused as datetime does.
    h, m, sec = int(hour), int(minute), int(second)
    if days is None or h > 23 or m > 59 or sec > 59:
        return None
    seconds = days * 86400 + h * 3600 + m * 60 + sec
    if sign is not None:
        if int(off_h) > 23 or int(off_m) > 59:
            return None  # not an offset a clock can have
        offset = int(off_h) * 3600 + int(off_m) * 60
        seconds += -offset if sign == "+" else offset
    return seconds if _MIN_TS <= seconds <= _MAX_TS else None


@functools.lru_cache(maxsize=1024)
def _unix_day(year: str, month: str, day: str) -> int | None:
    """Days since 1970-01-01 of a calendar date, None for one that does not exist (month 13,
    February 30). Cached: the steps of a build, and builds of one day, share their dates."""
    try:
        return date(int(year), int(month), int(day)).toordinal() - _UNIX_DAY_ONE
    except ValueError:
        return None
