"""How far back a run looks: the `since` horizon, and the times hidden in Prow's build IDs.

Prow's build IDs are snowflakes with the Twitter epoch (docs/formats.md#build-ids-snowflakes):
a point in time is also an ID bound, so a horizon can stop a walk or start a listing without
reading anything. Old small IDs carry no time; for them the page's Started time decides.
Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

SNOWFLAKE_EPOCH_MS = 1288834974657
# An ID whose time would lie before 2014 (before Prow existed) is not a snowflake: the small
# integers (16, 17, ...) old jobs counted up with.
_FIRST_SNOWFLAKE = (1388534400000 - SNOWFLAKE_EPOCH_MS) << 22

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DURATION = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def snowflake_seconds(build_id: int) -> float | None:
    """When a snowflake build ID was minted (epoch seconds); None for a small, old ID."""
    if build_id < _FIRST_SNOWFLAKE:
        return None
    return ((build_id >> 22) + SNOWFLAKE_EPOCH_MS) / 1000


def first_id_at(epoch_seconds: float) -> int:
    """The smallest snowflake ID minted at or after this time."""
    ms = math.ceil(epoch_seconds * 1000) - SNOWFLAKE_EPOCH_MS
    return max(ms, 0) << 22


def build_started(build_id: int, started: int | None = None) -> float | None:
    """A build's start: the snowflake's time, else a Started time the caller read, else None."""
    minted = snowflake_seconds(build_id)
    return minted if minted is not None else started


class SinceError(ValueError):
    """A `since` value that is neither a date, an RFC 3339 time nor a duration."""


@dataclass(frozen=True)
class Since:
    """A `since` value as written: an absolute time, or a duration back from each run's start."""

    text: str
    at: float | None = None  # epoch seconds, for a date or a timestamp
    back: float | None = None  # seconds before now, for a duration

    def resolve(self, now: float) -> Horizon:
        at = self.at if self.at is not None else now - (self.back or 0.0)
        return Horizon(at=at, text=self.text)


def parse_since(text: str) -> Since:
    """`YYYY-MM-DD` (UTC midnight), an RFC 3339 timestamp, or a duration such as `90d`,
    `36h`, `2w` or `1w3d`; SinceError says which forms are accepted."""
    value = text.strip()
    if _DATE.fullmatch(value):
        try:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise SinceError(f"since {text!r}: no such date") from None
        return Since(value, at=day.timestamp())
    if "T" in value.upper():
        return Since(value, at=_rfc3339(value, text))
    parts = _DURATION.findall(value.lower())
    if parts and "".join(n + u for n, u in parts) == value.lower():
        seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
        if seconds > 0:
            return Since(value, back=float(seconds))
    raise SinceError(
        f"since {text!r} is not a date (2026-05-01), an RFC 3339 time "
        "(2026-05-01T12:00:00Z) or a duration back from now (90d, 36h, 2w)"
    )


def _rfc3339(value: str, text: str) -> float:
    normal = value.upper().replace("Z", "+00:00")
    # fromisoformat takes at most 6 fractional digits; Go writes up to 9.
    normal = re.sub(r"(\.\d{6})\d+", r"\1", normal)
    try:
        when = datetime.fromisoformat(normal)
    except ValueError:
        raise SinceError(f"since {text!r} is not an RFC 3339 time") from None
    if when.tzinfo is None:
        raise SinceError(f"since {text!r} has no time zone: add Z or an offset such as +02:00")
    return when.timestamp()


@dataclass(frozen=True)
class Horizon:
    """Builds that started before `at` are left alone: not uploaded, not counted, not walked."""

    at: float
    text: str

    @property
    def first_id(self) -> int:
        """Snowflake IDs below this started before the horizon."""
        return first_id_at(self.at)

    def excludes(self, build_id: int, started: int | None) -> bool:
        """Whether the build started before the horizon. A snowflake says so itself; a small
        ID needs the Started time a page or started.json gave (unknown: not excluded)."""
        if snowflake_seconds(build_id) is not None:
            return build_id < self.first_id
        return started is not None and started < self.at

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return when if when.startswith(self.text) else f"{self.text} ({when})"
