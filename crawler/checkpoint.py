"""`<job>.state.json`: where a job's history stops mattering, kept between runs.

The floor: every build from `horizon` (an ID; 0 = from the start) up to below `floor` is
settled (tracked, given up, or abandoned while running). Discovery never looks below it and
always goes down to it: builds finish out of order and runs get killed, so "a fully tracked
page" alone does not mean that everything older is done. The file also remembers the backlog
and buckets whose listing proved blind for the job. Written atomically; keys this version
does not know are kept, so an older crawler never erases what a newer one wrote.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler.prow import validate_job_name


@dataclass(frozen=True)
class Checkpoint:
    floor: int = 0
    horizon: int = 0  # the floor holds for builds with IDs from here up
    backlog: int = 0  # finished builds known and not uploaded when the last run ended
    distrusted: tuple[str, ...] = ()  # buckets whose listing missed what deck showed
    distrust_reason: str = ""


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
    )


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
    )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
