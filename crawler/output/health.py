"""A job's standing read from its files alone (tracker, failures, checkpoint): what `status`
prints and the job-level gauges of the metrics, after a run or between runs. No network."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from crawler.core.defaults import GIVE_UP_AFTER_RUNS
from crawler.core.jobs import JobSpec
from crawler.state.checkpoint import newest_start, read_checkpoint
from crawler.state.failures import FailureLog
from crawler.state.tracker import read_tracker_summary


@dataclass
class FailedBuild:
    build: str
    attempts: int
    given_up: bool
    reason: str


@dataclass
class JobHealth:
    """One job as its files describe it at `now`."""

    name: str
    tracked: int
    newest: int | None  # the newest tracked build ...
    newest_started: float | None  # ... and its start (epoch seconds), if known
    backlog: int  # finished builds known and not uploaded when the last run ended
    lag_seconds: float  # how stale Logilica is for the job; 0 when up to date
    horizon: str | None
    failures: list[FailedBuild]

    @property
    def given_up(self) -> int:
        return sum(f.given_up for f in self.failures)

    def newest_age(self, now: float) -> float | None:
        return None if self.newest_started is None else max(0.0, now - self.newest_started)

    def to_json(self, now: float) -> dict[str, Any]:
        data = asdict(self)
        data["newest"] = str(self.newest) if self.newest is not None else None
        data["newest_age_seconds"] = self.newest_age(now)
        data["given_up"] = self.given_up
        return data


def read_health(directory: Path, spec: JobSpec, now: float) -> JobHealth:
    """Raises CrawlerError for a tracker or failures file that cannot be read."""
    count, newest = read_tracker_summary(directory, spec.name)
    failures = FailureLog(directory, spec.name).load().entries
    saved = read_checkpoint(directory, spec.name)
    started = newest_start(saved, newest) if newest is not None else None
    lag = max(0.0, now - saved.behind_since) if saved.behind_since is not None else 0.0
    return JobHealth(
        name=spec.name,
        tracked=count,
        newest=newest,
        newest_started=started,
        backlog=saved.backlog,
        lag_seconds=lag,
        horizon=spec.since.resolve(now).describe() if spec.since else None,
        failures=[
            FailedBuild(build_id, f.attempts, f.attempts >= GIVE_UP_AFTER_RUNS, f.reason)
            for build_id, f in sorted(failures.items(), key=lambda kv: int(kv[0]))
        ],
    )
