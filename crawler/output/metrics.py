"""Prometheus figures of a run (or of the files alone, for `status`): what the dashboards and
alerts of deploy/prometheus read. Built with prometheus-client, written atomically to a
textfile-collector file and/or pushed to a Pushgateway.

Label cardinality is bounded by the number of jobs: `job`, `outcome` and `service` only.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from crawler.state.files import replace_atomically

if TYPE_CHECKING:  # prometheus-client is imported when metrics are written, not at start-up
    from prometheus_client import CollectorRegistry

    from crawler.core.counts import RunSummary
    from crawler.core.jobs import Config
    from crawler.output.health import JobHealth

# Every metric the crawler writes: name -> (help, label names). All are gauges.
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "prow_crawler_last_run_timestamp_seconds": ("When the last run ended (epoch seconds).", ()),
    "prow_crawler_last_run_success": ("1 if the last run succeeded (exit status 0), else 0.", ()),
    "prow_crawler_last_success_timestamp_seconds": (
        "When a run last succeeded (epoch seconds), kept across runs.",
        (),
    ),
    "prow_crawler_run_duration_seconds": ("How long the last run took.", ()),
    "prow_crawler_run_stopped": (
        "1 if the last run was stopped early (a signal or --deadline), else 0.",
        (),
    ),
    "prow_crawler_run_builds": (
        "Builds of the last run by outcome: uploaded, failed, running, deferred, unrecorded.",
        ("job", "outcome"),
    ),
    "prow_crawler_job_success": (
        "1 if the job had no failure in the last run (0: it or a build of it failed).",
        ("job",),
    ),
    "prow_crawler_job_tracked_builds": ("Builds in the job's tracker file.", ("job",)),
    "prow_crawler_job_backlog_builds": (
        "Finished builds known and not uploaded (left by --limit, failures, a stop).",
        ("job",),
    ),
    "prow_crawler_job_newest_build_timestamp_seconds": (
        "Start time of the newest tracked build (epoch seconds).",
        ("job",),
    ),
    "prow_crawler_job_lag_seconds": (
        "How stale Logilica is for the job: now minus the start of the oldest finished build "
        "not yet uploaded, or since the job was last seen complete (0: up to date).",
        ("job",),
    ),
    "prow_crawler_job_given_up_builds": (
        "Builds that failed for good and are no longer retried.",
        ("job",),
    ),
    "prow_crawler_requests": ("Requests of the last run per service.", ("service",)),
    "prow_crawler_retries": ("Retries of the last run per service.", ("service",)),
}
OUTCOMES = ("uploaded", "failed", "running", "deferred", "unrecorded")
SERVICES = ("deck", "gcs", "logilica")
# The metrics `status --metrics-file` writes: what the files alone say, per job.
JOB_METRICS = (
    "prow_crawler_job_tracked_builds",
    "prow_crawler_job_backlog_builds",
    "prow_crawler_job_newest_build_timestamp_seconds",
    "prow_crawler_job_lag_seconds",
    "prow_crawler_job_given_up_builds",
)
PUSH_JOB = "prow_crawler"
# A Pushgateway overwrites a pushed metric's `job` label with the grouping key's (`prow_crawler`),
# which would fold every Prow job into one series. Pushed samples carry the Prow job as
# `exported_job`: the name Prometheus itself gives a target's own `job` label when it scrapes
# a textfile with honor_labels off, so queries read the same for both routes.
PUSHED_JOB_LABEL = "exported_job"


@dataclass
class Samples:
    """Values to write: metric name -> list of (labels, value)."""

    values: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)

    def set(self, name: str, value: float, **labels: str) -> None:
        if name not in METRICS:
            raise KeyError(f"unknown metric {name}")
        self.values.setdefault(name, []).append((labels, float(value)))

    def names(self) -> Iterable[str]:
        return self.values.keys()


def job_samples(samples: Samples, jobs: Iterable[JobHealth]) -> Samples:
    """The job-level gauges, from what the job's files say."""
    for job in jobs:
        samples.set("prow_crawler_job_tracked_builds", job.tracked, job=job.name)
        samples.set("prow_crawler_job_backlog_builds", job.backlog, job=job.name)
        samples.set("prow_crawler_job_lag_seconds", job.lag_seconds, job=job.name)
        samples.set("prow_crawler_job_given_up_builds", job.given_up, job=job.name)
        if job.newest_started is not None:
            samples.set(
                "prow_crawler_job_newest_build_timestamp_seconds", job.newest_started, job=job.name
            )
    return samples


@dataclass(frozen=True)
class RunFacts:
    """How the run ended, beyond its summary."""

    ended_at: float
    exit_code: int
    last_success: float | None  # when a run of this instance last succeeded, this one included


def run_samples(summary: RunSummary, jobs: Iterable[JobHealth], facts: RunFacts) -> Samples:
    """Every gauge of a finished (or stopped, or failed) run."""
    out = Samples()
    out.set("prow_crawler_last_run_timestamp_seconds", facts.ended_at)
    out.set("prow_crawler_last_run_success", facts.exit_code == 0)
    if facts.last_success is not None:
        out.set("prow_crawler_last_success_timestamp_seconds", facts.last_success)
    out.set("prow_crawler_run_duration_seconds", summary.seconds)
    out.set("prow_crawler_run_stopped", summary.stopped is not None)
    for counts in summary.jobs:
        for outcome in OUTCOMES:
            value = getattr(counts, outcome)
            out.set("prow_crawler_run_builds", value, job=counts.name, outcome=outcome)
        out.set("prow_crawler_job_success", not counts.problem, job=counts.name)
    for service in SERVICES:
        out.set("prow_crawler_requests", summary.requests.get(service, 0), service=service)
        out.set("prow_crawler_retries", summary.retries_by_service.get(service, 0), service=service)
    return job_samples(out, jobs)


def registry_of(samples: Samples, *, job_label: str = "job") -> CollectorRegistry:
    """A prometheus-client registry holding the samples as gauges."""
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()
    for name, rows in samples.values.items():
        help_text, labels = METRICS[name]
        names = tuple(job_label if label == "job" else label for label in labels)
        gauge = Gauge(name, help_text, names, registry=registry)
        for row_labels, value in rows:
            renamed = {job_label if k == "job" else k: v for k, v in row_labels.items()}
            (gauge.labels(**renamed) if labels else gauge).set(value)
    return registry


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An OS lock beside a metrics file (`PATH.lock`; the textfile collector reads only
    `*.prom`): a `status` refresh reads, merges and writes under it, so it can never put an
    older run's gauges back over a run that has just written its own."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_file(samples: Samples, path: Path) -> None:
    """Text exposition format, atomically: prometheus-client writes a temporary file in the
    same directory (`PATH.PID.THREAD`, which the textfile collector ignores), renames it over
    PATH, and removes it if anything fails."""
    from prometheus_client import write_to_textfile

    write_to_textfile(str(path), registry_of(samples))


def push(samples: Samples, url: str, instance: str, timeout: float = 10.0) -> None:
    """PUT the samples to a Pushgateway under job `prow_crawler`, grouped by `instance`
    (replacing what the instance pushed last time). Raises OSError or ValueError."""
    from prometheus_client import push_to_gateway

    registry = registry_of(samples, job_label=PUSHED_JOB_LABEL)
    push_to_gateway(
        url, job=PUSH_JOB, registry=registry, grouping_key={"instance": instance}, timeout=timeout
    )


def redact_url(url: str) -> str:
    """A URL fit for messages: no user or password (a Pushgateway behind basic auth)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=f"***@{netloc}"))


def read_file_samples(path: Path, keep: Iterable[str]) -> Samples:
    """The samples of metrics `keep` in an earlier metrics file (none if it is missing or
    unreadable): `status --metrics-file` refreshes the job gauges and keeps the last run's."""
    from prometheus_client.parser import text_string_to_metric_families

    wanted = set(keep)
    out = Samples()
    try:
        text = path.read_text(encoding="utf-8")
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in wanted:
                    out.set(sample.name, sample.value, **sample.labels)
    except (OSError, ValueError, UnicodeDecodeError, KeyError):
        return Samples()
    return out


# -- at the end of a run -------------------------------------------------------------------


def instance_of(shard: str | None) -> str:
    """The Pushgateway `instance` of a run: its `--shard` value, or `all`."""
    return shard or "all"


def last_success_path(tracker_dir: Path, instance: str) -> Path:
    """Per instance, beside the trackers; a leading dot cannot collide with a job's files."""
    return tracker_dir / f".last-success.{instance.replace('/', '-of-')}"


def read_last_success(path: Path) -> float | None:
    try:
        value = float(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    return value if value >= 0 else None


def publish(
    config: Config,
    summary: RunSummary,
    *,
    tracker_dir: Path,
    exit_code: int,
    instance: str,
    report: Callable[[str], None],
) -> None:
    """Write and/or push the run's metrics, as jobs.yaml's `output:` and the flags ask.
    Problems are reported and never change the run's exit status."""
    output = config.output
    if output.metrics_file is None and output.pushgateway is None:
        return
    from crawler.core.errors import CrawlerError
    from crawler.output.health import read_health

    ended = time.time()
    marker = last_success_path(tracker_dir, instance)
    if exit_code == 0 and not summary.dry_run:
        try:
            replace_atomically(marker, f"{ended:.3f}\n", encoding="ascii")
        except OSError as exc:
            report(f"metrics: cannot record the last success in {marker}: {exc}")
    healths = []
    for spec in config.jobs:
        try:
            healths.append(read_health(tracker_dir, spec, ended))
        except (CrawlerError, OSError) as exc:
            report(f"metrics: no job gauges for {spec.name}: {exc}")
    facts = RunFacts(ended, exit_code, read_last_success(marker))
    samples = run_samples(summary, healths, facts)
    if output.metrics_file is not None:
        try:
            with file_lock(output.metrics_file):
                write_file(samples, output.metrics_file)
        except OSError as exc:
            report(f"metrics: cannot write {output.metrics_file}: {exc}")
    if output.pushgateway is not None:
        try:
            push(samples, output.pushgateway, instance)
        except Exception as exc:  # urllib's errors vary; none may stop the run
            url, shown = output.pushgateway, redact_url(output.pushgateway)
            report(f"metrics: push to {shown} failed: {str(exc).replace(url, shown)}")
