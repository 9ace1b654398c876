"""`prow-crawler status`: each job's standing from its files alone (no network), as lines, as
one JSON document, or as the job gauges of a metrics file refreshed between runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from crawler.core.defaults import GIVE_UP_AFTER_RUNS
from crawler.core.errors import CrawlerError
from crawler.core.jobs import Config
from crawler.output.health import JobHealth, read_health
from crawler.output.metrics import (
    JOB_METRICS,
    METRICS,
    Samples,
    file_lock,
    job_samples,
    read_file_samples,
    write_file,
)


@dataclass
class Standing:
    jobs: list[JobHealth] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # job -> why its files cannot be read


def read_standing(config: Config, tracker_dir: Path, now: float) -> Standing:
    out = Standing()
    for spec in config.jobs:
        try:
            out.jobs.append(read_health(tracker_dir, spec, now))
        except (CrawlerError, OSError) as exc:
            out.errors[spec.name] = str(exc)
    return out


def age(seconds: float | None) -> str:
    """3d4h, 5h12m, 7m, 0m: coarse on purpose, it is read at a glance."""
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days}d{hours}h"
    return f"{hours}h{mins}m" if hours else f"{mins}m"


def print_lines(standing: Standing, now: float, out: TextIO) -> None:
    for job in standing.jobs:
        newest = str(job.newest) if job.newest is not None else "-"
        print(
            f"{job.name}: tracked={job.tracked} newest={newest} failed={len(job.failures)} "
            f"backlog={job.backlog} horizon={job.horizon or '-'} "
            f"newest_age={age(job.newest_age(now))} lag={age(job.lag_seconds)}",
            file=out,
        )
        for f in job.failures:
            gave_up = " (given up; --retry-failed retries it)" if f.given_up else ""
            print(f"  failed build={f.build} attempts={f.attempts}{gave_up}: {f.reason}", file=out)
    for name, error in standing.errors.items():
        print(f"{name}: error: {error}", file=out)


def to_json(standing: Standing, now: float) -> dict[str, Any]:
    return {
        "now": now,
        "give_up_after_runs": GIVE_UP_AFTER_RUNS,
        "jobs": [job.to_json(now) for job in standing.jobs],
        "errors": standing.errors,
    }


def dump_json(standing: Standing, now: float, out: TextIO) -> None:
    json.dump(to_json(standing, now), out, indent=2)
    out.write("\n")


def write_metrics(standing: Standing, path: Path) -> None:
    """The job gauges as the files say now; the last run's own gauges already in the file are
    kept, so one file serves both `run --metrics-file` and a refresh between runs."""
    with file_lock(path):
        kept = read_file_samples(path, (name for name in METRICS if name not in JOB_METRICS))
        write_file(job_samples(Samples(kept.values), standing.jobs), path)
