"""The crawler's settings made from the command line and the environment (the types are in
crawler.core.jobs): the one precedence rule between the command line and the jobs file
(`apply_overrides`), and which jobs a run covers (`select_jobs`: --job, --shard). Reading
jobs.yaml: jobsfile.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crawler.core.builds import check_job_url
from crawler.core.defaults import (
    DISCOVERY_MODES,
    PUBLIC_API_ROOT,
)
from crawler.core.errors import ConfigError
from crawler.core.horizon import SinceError, parse_since
from crawler.core.jobs import REPO_NAME, Config, JobSpec, OutputSettings, RunOptions
from crawler.core.secret import Secret


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


def run_options(
    config: Config,
    tracker_dir: Path,
    dry_run: bool,
    max_pages: int | None,
    verbose: bool,
    *,
    retry_failed: bool = False,
    wait_lock: str | None = None,
    feed: bool = True,
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
        feed=feed,
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
    matches = tuple(replace(m, settings=replace(m.settings, **changes)) for m in config.matches)
    return replace(config, jobs=[replace(j, **changes) for j in config.jobs], matches=matches)


def check_horizons(config: Config, now: float) -> None:
    """A horizon in the future would silently leave every build out: refuse it."""
    named = [(f"job {j.name}", j.since) for j in config.jobs]
    named += [(m.rule.describe(), m.settings.since) for m in config.matches]
    for what, since in named:
        if since is not None and since.resolve(now).at > now:
            raise ConfigError(
                f"{what}: since {since.text!r} is in the future, so no build would be uploaded",
                path=config.path,
            )


def select_jobs(config: Config, names: list[str] | None, shard: str | None) -> Config:
    """The jobs this run covers: those named with --job (all by default), of shard I/N. With
    `match:` items the names and the shard are kept for the expanded list (pick_jobs)."""
    if config.matches:
        if shard:
            parse_shard(shard)
        return replace(config, only=tuple(names) if names else None, shard=shard)
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
