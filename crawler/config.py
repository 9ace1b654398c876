"""The crawler's settings as typed values (jobs, limits, Logilica, output; this run's options),
the one precedence rule between the command line and the jobs file (`apply_overrides`), and
which jobs a run covers (`select_jobs`: --job, --shard). Reading jobs.yaml: jobsfile.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crawler.defaults import (
    DEFAULT_API_URL,
    DEFAULT_LIMIT,
    DEFAULT_ORIGIN,
    DISCOVERY_MODES,
    PUBLIC_API_ROOT,
)
from crawler.errors import ConfigError
from crawler.horizon import Since, SinceError, parse_since
from crawler.prow import JobURL, check_job_url
from crawler.secret import Secret

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
    """Where a run's Prometheus metrics go (see crawler/metrics.py); None = nowhere."""

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
class Config:
    jobs: list[JobSpec]
    triggered_by: TriggeredBy = field(default_factory=TriggeredBy)
    limits: Limits = field(default_factory=Limits)
    logilica: LogilicaSettings = field(default_factory=LogilicaSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    path: str | None = None


def pushgateway_problem(url: str) -> str | None:
    """What is wrong with a Pushgateway address, if anything."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url.split('@')[-1]!r} is not an http(s) URL (e.g. http://pushgateway:9091)"
    return None


def single_job_config(url: str, repo: str | None) -> Config:
    """The config behind `crawl --job-url`: one job, everything else default."""
    job_url = check_job_url(url, where="--job-url", path="--job-url", line=None)
    if repo is not None and not REPO_NAME.fullmatch(repo):
        raise ConfigError(f"--repo {repo!r} is not ORG/NAME")
    return Config(jobs=[JobSpec(name=job_url.job, url=job_url, repo=repo)])


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


def run_options(
    config: Config,
    tracker_dir: Path,
    dry_run: bool,
    max_pages: int | None,
    verbose: bool,
    *,
    retry_failed: bool = False,
    wait_lock: str | None = None,
) -> RunOptions:
    """This run's options from the flags and the environment; ConfigError for what a real
    run is missing (a token, a Logilica domain)."""
    token = os.environ.get("LOGILICA_TOKEN", "").strip()
    domain = os.environ.get("LOGILICA_DOMAIN", "").strip() or config.logilica.domain
    api_url = os.environ.get("LOGILICA_API_URL", "").strip() or config.logilica.api_url
    if not dry_run:
        if not token:
            raise ConfigError(
                "LOGILICA_TOKEN is not set: export your Logilica API token "
                "(or use --dry-run, which needs none)"
            )
        if not domain:
            raise ConfigError(
                "no Logilica domain: set LOGILICA_DOMAIN or 'logilica: {domain: ...}' in the "
                "jobs file"
            )
        if not api_url.startswith(("https://", "http://")):
            raise ConfigError(f"LOGILICA_API_URL {api_url!r} is not an http(s) URL")
    return RunOptions(
        tracker_dir=tracker_dir,
        dry_run=dry_run,
        max_pages=max_pages,
        verbose=verbose,
        gcs_api_root=api_root_from_env(),
        token=Secret(token) if token else None,
        domain=domain,
        api_url=api_url,
        retry_failed=retry_failed,
        lock_wait=parse_duration(wait_lock) if wait_lock else 0.0,
        loop=loop_from_env(),
    )


LOOPS = ("auto", "asyncio", "uvloop")


def loop_from_env(environ: dict[str, str] | None = None) -> str:
    """PROW_CRAWLER_LOOP: auto (uvloop where installed), asyncio, or uvloop (insisted on)."""
    env = os.environ if environ is None else environ
    choice = env.get("PROW_CRAWLER_LOOP", "").strip().lower() or "auto"
    if choice not in LOOPS:
        raise ConfigError(f"PROW_CRAWLER_LOOP={choice!r} is not one of {', '.join(LOOPS)}")
    if choice == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise ConfigError(
            "PROW_CRAWLER_LOOP=uvloop but uvloop is not installed: pip install uvloop, or "
            "unset it (the standard loop is used where uvloop is missing)"
        )
    return choice


def api_root_from_env(environ: dict[str, str] | None = None) -> str:
    """STORAGE_EMULATOR_HOST (the standard emulator switch) or the public JSON API."""
    env = os.environ if environ is None else environ
    host = env.get("STORAGE_EMULATOR_HOST", "").strip()
    if not host:
        return PUBLIC_API_ROOT
    return host if host.startswith(("http://", "https://")) else f"http://{host}"


# -- the command line against the file -------------------------------------------------------


@dataclass(frozen=True)
class Overrides:
    """Per-job settings given on the command line for every job; None = not given."""

    limit: int | None = None
    discovery: str | None = None
    since: str | None = None
    metrics_file: Path | None = None
    pushgateway: str | None = None


def apply_overrides(config: Config, overrides: Overrides) -> Config:
    """The one precedence rule: a value given on the command line beats the job's own key,
    which beats `defaults:`, which beats the built-in default. ConfigError for a bad value."""
    changes: dict[str, Any] = {}
    if overrides.limit is not None:
        if overrides.limit < 0:
            raise ConfigError(f"--limit {overrides.limit} must be 0 (no limit) or more")
        changes["limit"] = overrides.limit
    if overrides.discovery is not None:
        if overrides.discovery not in DISCOVERY_MODES:
            raise ConfigError(
                f"--discovery {overrides.discovery!r} is not one of {', '.join(DISCOVERY_MODES)}"
            )
        changes["discovery"] = overrides.discovery
    if overrides.since is not None:
        try:
            changes["since"] = parse_since(overrides.since)
        except SinceError as exc:
            raise ConfigError(f"--{exc}") from None
    if overrides.metrics_file is not None or overrides.pushgateway is not None:
        if overrides.pushgateway and (problem := pushgateway_problem(overrides.pushgateway)):
            raise ConfigError(f"--pushgateway: {problem}")
        output = config.output
        config = replace(
            config,
            output=OutputSettings(
                overrides.metrics_file or output.metrics_file,
                overrides.pushgateway or output.pushgateway,
            ),
        )
    if not changes:
        return config
    return replace(config, jobs=[replace(j, **changes) for j in config.jobs])


def check_horizons(config: Config, now: float) -> None:
    """A horizon in the future would silently leave every build out: refuse it."""
    for job in config.jobs:
        if job.since is not None and job.since.resolve(now).at > now:
            raise ConfigError(
                f"job {job.name}: since {job.since.text!r} is in the future, so no build "
                "would be uploaded",
                path=config.path,
            )


def select_jobs(config: Config, names: list[str] | None, shard: str | None) -> Config:
    """The jobs this run covers: those named with --job (all by default), of shard I/N."""
    jobs = config.jobs
    if names:
        known = {j.name for j in jobs}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(
                f"--job {', '.join(unknown)}: not in the file (jobs: {', '.join(sorted(known))})",
                path=config.path,
            )
        jobs = [j for j in jobs if j.name in set(names)]
    if shard:
        index, count = parse_shard(shard)
        jobs = [j for j in jobs if shard_of(j.name, count) == index]
    return replace(config, jobs=jobs)


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_duration(text: str) -> float:
    """'50m', '1h30m', '90s', '45' (seconds) -> seconds; ConfigError if malformed or zero."""
    value = text.strip().lower()
    seconds: float | None = None
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        seconds = float(value)
    elif value and (m := _DURATION.fullmatch(value)):
        h, mnt, sec = m.groups()
        seconds = int(h or 0) * 3600 + int(mnt or 0) * 60 + float(sec or 0)
    if not seconds or seconds <= 0:
        raise ConfigError(f"duration {text!r} is not valid: use e.g. 50m, 1h30m, 90s")
    return seconds


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' with 0 <= I < N -> (I, N); ConfigError otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise ConfigError(f"--shard {text!r} is not I/N with 0 <= I < N (e.g. 0/4)")
    return int(match.group(1)), int(match.group(2))


def shard_of(job_name: str, shards: int) -> int:
    """A job's shard: a stable hash of its name (the same on every machine and Python run)."""
    digest = hashlib.sha256(job_name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards
