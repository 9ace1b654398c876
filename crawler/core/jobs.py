"""The crawler's settings as typed values: the jobs, limits, Logilica and output settings of a
run, and this run's options (no I/O; made by crawler.settings)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from crawler.core.builds import JobURL
from crawler.core.defaults import (
    DEFAULT_API_URL,
    DEFAULT_LIMIT,
    DEFAULT_ORIGIN,
    PUBLIC_API_ROOT,
)
from crawler.core.horizon import Since
from crawler.core.matching import DEFAULT_PROW, MatchItem
from crawler.core.secret import Secret

# Logilica repository full name: ORG/NAME.
REPO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class TriggeredBy:
    """Who Logilica shows as the trigger of builds that have no PR author (periodics)."""

    name: str = "OpenShift CI"
    email: str = ""
    account_id: str = "openshift-ci"


@dataclass(frozen=True)
class Limits:
    """Concurrency and request-rate bounds, one set per remote service kind."""

    deck_concurrency: int = 4
    deck_rps: float = 5.0
    gcs_concurrency: int = 64
    logilica_concurrency: int = 4
    logilica_rps: float = 10.0
    timeout: float = 30.0
    batch_size: int = 50


@dataclass(frozen=True)
class LogilicaSettings:
    domain: str | None = None
    api_url: str = DEFAULT_API_URL
    origin: str = DEFAULT_ORIGIN


@dataclass(frozen=True)
class OutputSettings:
    """Where a run's Prometheus metrics go (see crawler/output/metrics.py); None = nowhere."""

    metrics_file: Path | None = None
    pushgateway: str | None = None


@dataclass(frozen=True)
class JobSpec:
    """One job to crawl, its options resolved: command line, else the job's own key, else
    `defaults:`, else the built-in default (see apply_overrides)."""

    name: str
    url: JobURL
    repo: str | None = None
    limit: int = DEFAULT_LIMIT  # new builds per run, oldest first; 0 = no limit
    discovery: str = "auto"  # auto | deck | gcs
    since: Since | None = None  # the backfill horizon; None = the whole history
    stages: str = "steps"  # steps | build


@dataclass(frozen=True)
class JobTemplate:
    """The settings a `match:` item gives each job it stands for (as JobSpec, less the job)."""

    repo: str | None = None
    limit: int = DEFAULT_LIMIT
    discovery: str = "auto"
    since: Since | None = None
    stages: str = "steps"

    def job(self, name: str, url: JobURL) -> JobSpec:
        return JobSpec(name, url, self.repo, self.limit, self.discovery, self.since, self.stages)


@dataclass(frozen=True)
class Config:
    """Everything jobs.yaml (and the command line over it) says. `jobs`: the `url:` items, and
    once a run has read deck's feed, the jobs `matches` stand for (settings.patterns)."""

    jobs: list[JobSpec]
    triggered_by: TriggeredBy = field(default_factory=TriggeredBy)
    limits: Limits = field(default_factory=Limits)
    logilica: LogilicaSettings = field(default_factory=LogilicaSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    path: str | None = None
    prow: str = DEFAULT_PROW  # deck for `match:` items and the feed
    feed: bool = True  # `feed: false` under defaults: every job read page by page
    matches: tuple[MatchItem[JobTemplate], ...] = ()
    # --job and --shard, applied once the matches are expanded (None: every job).
    only: tuple[str, ...] | None = None
    shard: str | None = None


@dataclass(frozen=True)
class RunOptions:
    """How this run behaves; per-job settings (limit, discovery, since) are in JobSpec."""

    tracker_dir: Path
    dry_run: bool = False
    max_pages: int | None = None
    verbose: bool = False
    gcs_api_root: str = PUBLIC_API_ROOT
    token: Secret | None = None
    domain: str | None = None
    api_url: str | None = None
    grace_seconds: float = 10.0
    retry_failed: bool = False  # retry builds that failed for good, and look below the floor
    lock_wait: float = 0.0  # seconds to wait for a job locked by another run (0: skip it)
    loop: str = "auto"  # the event loop: auto (uvloop if installed), asyncio or uvloop
    feed: bool = True  # --no-feed: never read deck's ProwJob feed
