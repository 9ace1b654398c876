"""`<job>.state.json`: where a job's history stops mattering, kept between runs.

The floor: every build from `horizon` (an ID; 0 = from the start) up to below `floor` is
settled (tracked, given up, or abandoned while running). Discovery never looks below it and
always goes down to it: builds finish out of order and runs get killed, so "a fully tracked
page" alone does not mean that everything older is done. The file also remembers the backlog,
buckets whose listing proved blind for the job, and what monitoring reads between runs (the
newest tracked build and its start, since when Logilica lacks builds). Written atomically;
keys this version does not know are kept, so an older crawler never erases what a newer one
wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.core.builds import BuildRef, validate_job_name
from crawler.core.found import FeedTrust
from crawler.core.horizon import build_started
from crawler.state.files import replace_atomically


@dataclass(frozen=True)
class Checkpoint:
    floor: int = 0
    horizon: int = 0  # the floor holds for builds with IDs from here up
    backlog: int = 0  # finished builds known and not uploaded when the last run ended
    distrusted: tuple[str, ...] = ()  # buckets whose listing missed what deck showed
    distrust_reason: str = ""
    newest_id: int | None = None  # the newest tracked build ...
    newest_started: float | None = None  # ... and its start (started.json for small IDs)
    seen_at: float | None = None  # when a run last saw the job's whole unsettled history
    # The start of the oldest finished build Logilica lacks (or, when the last run could not
    # see the job, when it was last seen): None when Logilica was up to date.
    behind_since: float | None = None
    feed: FeedTrust = field(default_factory=FeedTrust)
    running: tuple[BuildRef, ...] = ()  # builds running at the end of the last run


def newest_start(saved: Checkpoint, newest: int) -> float | None:
    """When the newest tracked build started: its snowflake time, else the start this file
    kept for it (started.json's, for an old small ID), else unknown."""
    known = saved.newest_started if saved.newest_id == newest else None
    return build_started(newest) or known


def checkpoint_path(directory: Path, job: str) -> Path:
    return directory / f"{validate_job_name(job)}.state.json"


def _read_raw(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _count(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key, 0)
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else None


def _time(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    return float(value) if ok else None


def read_checkpoint(directory: Path, job: str) -> Checkpoint:
    """Missing or unreadable means floor 0: look at the whole history, which is always safe."""
    data = _read_raw(checkpoint_path(directory, job))
    floor, horizon, backlog = (_count(data, k) for k in ("floor", "horizon", "backlog"))
    if floor is None or horizon is None or backlog is None:
        return Checkpoint()
    buckets = data.get("distrusted", [])
    buckets = buckets if isinstance(buckets, list) else []
    distrusted = tuple(b for b in buckets if isinstance(b, str))
    reason = data.get("distrust_reason", "")
    return Checkpoint(
        floor=floor,
        horizon=horizon,
        backlog=backlog,
        distrusted=distrusted,
        distrust_reason=reason if isinstance(reason, str) else "",
        newest_id=_count(data, "newest_id") or None,
        newest_started=_time(data, "newest_started"),
        seen_at=_time(data, "seen_at"),
        behind_since=_time(data, "behind_since"),
        feed=FeedTrust(data.get("feed_checked") is True, _text(data, "feed_blind")),
        running=_running(data.get("running")),
    )


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    return value if isinstance(value, str) else ""


def _running(value: Any) -> tuple[BuildRef, ...]:
    """Running builds as a run left them; an entry that is not whole is dropped (the floor
    still holds the build unsettled, so a deck page or listing finds it again)."""
    refs = []
    for entry in value if isinstance(value, list) else ():
        if not isinstance(entry, dict):
            continue
        fields = [entry.get(k) for k in ("id", "bucket", "path", "started")]
        if not all(isinstance(f, str) and f for f in fields):
            continue
        build_id, bucket, path, started = fields
        segments = path.split("/")
        if not build_id.isdigit() or ".." in segments or segments[-1] != build_id:
            continue
        refs.append(
            BuildRef(id=build_id, bucket=bucket, path=path, result="PENDING", started=started)
        )
    return tuple(refs)


def write_checkpoint(directory: Path, job: str, checkpoint: Checkpoint) -> None:
    """Atomic (temp file + rename): a kill leaves the old file, which stays valid because
    runs only ever settle more builds."""
    path = checkpoint_path(directory, job)
    data = _read_raw(path)
    data.update(
        floor=checkpoint.floor,
        horizon=checkpoint.horizon,
        backlog=checkpoint.backlog,
        distrusted=list(checkpoint.distrusted),
        distrust_reason=checkpoint.distrust_reason,
        newest_id=checkpoint.newest_id,
        newest_started=checkpoint.newest_started,
        seen_at=checkpoint.seen_at,
        behind_since=checkpoint.behind_since,
        feed_checked=checkpoint.feed.checked,
        feed_blind=checkpoint.feed.blind,
        running=[
            {"id": r.id, "bucket": r.bucket, "path": r.path, "started": r.started}
            for r in checkpoint.running
        ],
    )
    replace_atomically(path, json.dumps(data, sort_keys=True) + "\n")
