"""Read and validate jobs.yaml into typed settings; every error names file, line and key.

Also the one precedence rule between the command line and the file (`apply_overrides`), and
which jobs a run covers (`select_jobs`: --job, --shard).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from crawler.errors import ConfigError
from crawler.horizon import Since, SinceError, parse_since
from crawler.prow import JobURL, check_job_url, validate_job_name
from crawler.secret import Secret
from crawler.yamlcheck import Checker, Map, Seq

DEFAULT_API_URL = "https://logilica.io/api/import/v1"
# The public GCS JSON API; STORAGE_EMULATOR_HOST points the crawler at an emulator instead.
PUBLIC_API_ROOT = "https://storage.googleapis.com"
DEFAULT_ORIGIN = "OpenShift_CI"
# Logilica repository full name: ORG/NAME.
REPO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9._-]+")
# New builds per job per run when neither the command line nor the file says (0: no limit).
DEFAULT_LIMIT = 50
DISCOVERY_MODES = ("auto", "deck", "gcs")
# What a build's stages are: ci-operator's steps (from its step graph), or the build as one.
STAGE_MODES = ("steps", "build")


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
    path: str | None = None


_JOB_KEYS = {"url", "repo", "name", "limit", "discovery", "since", "stages"}
_DEFAULT_KEYS = {"repo", "limit", "triggered_by", "discovery", "since", "stages"}
_TOP_KEYS = {"jobs", "defaults", "logilica", "limits"}
_LIMIT_KEYS = {
    "deck_concurrency": True,
    "deck_rps": False,
    "gcs_concurrency": True,
    "logilica_concurrency": True,
    "logilica_rps": False,
    "timeout": False,
    "batch_size": True,
}


@dataclass(frozen=True)
class _JobDefaults:
    """`defaults:`, already validated: what a job without its own key gets."""

    repo: str | None = None
    limit: int = DEFAULT_LIMIT
    discovery: str = "auto"
    since: Since | None = None
    stages: str = "steps"


def parse_config(text: str, path: str = "jobs.yaml") -> Config:
    """Validate the text of a jobs file (pure: no file or network access)."""
    check = Checker(path)
    data = check.load(text)
    if data is None:
        raise check.fail("the file is empty: it needs a 'jobs:' list", None)
    top = check.mapping(data, "the top level", 1, _TOP_KEYS)
    if "jobs" not in top:
        raise check.fail("missing 'jobs:' (a list of job-history URLs or mappings)", top.line)

    section = check.section(top, "defaults", _DEFAULT_KEYS)
    limit = check.number(section, "limit", "defaults", minimum=0, integer=True)
    defaults = _JobDefaults(
        repo=_repo(check, section, "defaults"),
        limit=DEFAULT_LIMIT if limit is None else limit,
        discovery=check.choice(section, "discovery", "defaults", DISCOVERY_MODES) or "auto",
        since=_since(check, section, "defaults"),
        stages=check.choice(section, "stages", "defaults", STAGE_MODES) or "steps",
    )
    triggered_by = TriggeredBy()
    if "triggered_by" in section:
        tb = check.mapping(
            section["triggered_by"],
            "defaults.triggered_by",
            section.key_lines["triggered_by"],
            {"name", "email", "account_id"},
        )
        where = "defaults.triggered_by"
        triggered_by = TriggeredBy(
            name=check.string(tb, "name", where) or triggered_by.name,
            email=_email(check, tb, where),
            account_id=check.string(tb, "account_id", where) or triggered_by.account_id,
        )

    lg = check.section(top, "logilica", {"domain", "api_url", "origin"})
    logilica = LogilicaSettings(
        domain=check.string(lg, "domain", "logilica"),
        api_url=check.string(lg, "api_url", "logilica") or DEFAULT_API_URL,
        origin=check.string(lg, "origin", "logilica") or DEFAULT_ORIGIN,
    )
    if not logilica.api_url.startswith(("https://", "http://")):
        raise check.fail("logilica.api_url must be an http(s) URL", lg.key_lines["api_url"])

    lm = check.section(top, "limits", set(_LIMIT_KEYS))
    limit_values = {}
    for key, integer in _LIMIT_KEYS.items():
        value = check.number(lm, key, "limits", minimum=1 if integer else 0.001, integer=integer)
        if value is not None:
            limit_values[key] = value
    limits = replace(Limits(), **limit_values)

    jobs = _parse_jobs(check, top, defaults)
    return Config(jobs=jobs, triggered_by=triggered_by, limits=limits, logilica=logilica, path=path)


def _repo(check: Checker, m: Map, where: str) -> str | None:
    repo = check.string(m, "repo", where)
    if repo is not None and not REPO_NAME.fullmatch(repo):
        raise check.fail(f"{where}.repo {repo!r} is not ORG/NAME", m.key_lines["repo"])
    return repo


def _since(check: Checker, m: Map, where: str) -> Since | None:
    """A horizon; YAML reads an unquoted 2026-05-01 as a date and a timestamp as a datetime."""
    value = m.get("since")
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    elif isinstance(value, dt.date):
        value = value.isoformat()
    if not isinstance(value, str):
        message = f"{where}.since must be a date, a time or a duration"
        raise check.fail(message, m.key_lines["since"])
    try:
        return parse_since(value)
    except SinceError as exc:
        raise check.fail(f"{where}.{exc}", m.key_lines["since"]) from None


def _email(check: Checker, tb: Map, where: str) -> str:
    """An empty email is allowed: Logilica accepts it, and bots often have none."""
    value = tb.get("email")
    if value is None or value == "":
        return ""
    return check.string(tb, "email", where) or ""


def _parse_jobs(check: Checker, top: Map, defaults: _JobDefaults) -> list[JobSpec]:
    items = top["jobs"]
    jobs_line = top.key_lines["jobs"]
    if not isinstance(items, list) or not items:
        raise check.fail("'jobs' must be a non-empty list", jobs_line)
    jobs: list[JobSpec] = []
    seen: dict[str, str] = {}
    seen_urls: dict[str, str] = {}
    for index, item in enumerate(items):
        where = f"jobs[{index}]"
        line = items.item_lines[index] if isinstance(items, Seq) else jobs_line
        if isinstance(item, str):
            job_url = check_job_url(item, where=where, path=check.path, line=line)
            job = JobSpec(
                name=job_url.job,
                url=job_url,
                repo=defaults.repo,
                limit=defaults.limit,
                discovery=defaults.discovery,
                since=defaults.since,
                stages=defaults.stages,
            )
        else:
            job = _parse_job(check, item, where, line, defaults)
        if job.name in seen:
            raise check.fail(
                f"{where}: job {job.name!r} is listed twice (first as {seen[job.name]}); "
                "remove one or give it another 'name'",
                line,
            )
        if job.url.url in seen_urls:
            raise check.fail(
                f"{where}: {job.url.url} is listed twice (first as {seen_urls[job.url.url]}); "
                "its builds would be uploaded twice",
                line,
            )
        seen[job.name] = where
        seen_urls[job.url.url] = where
        jobs.append(job)
    return jobs


def _parse_job(check: Checker, item: Any, where: str, line: int, defaults: _JobDefaults) -> JobSpec:
    if not isinstance(item, Map):
        raise check.fail(f"{where} must be a job-history URL or a mapping with 'url'", line)
    m = check.mapping(item, where, line, _JOB_KEYS)
    if "url" not in m:
        raise check.fail(f"{where}: missing required key 'url'", m.line)
    job_url = check_job_url(m["url"], where=where, path=check.path, line=m.key_lines["url"])
    name = check.string(m, "name", where) or job_url.job
    try:
        validate_job_name(name)
    except ValueError as exc:
        raise check.fail(f"{where}: {exc}", m.key_lines.get("name", m.line)) from None
    limit = check.number(m, "limit", where, minimum=0, integer=True)
    return JobSpec(
        name=name,
        url=job_url,
        repo=_repo(check, m, where) or defaults.repo,
        limit=defaults.limit if limit is None else limit,
        discovery=check.choice(m, "discovery", where, DISCOVERY_MODES) or defaults.discovery,
        since=_since(check, m, where) or defaults.since,
        stages=check.choice(m, "stages", where, STAGE_MODES) or defaults.stages,
    )


def load_config(path: Path) -> Config:
    """Read and validate a jobs file; ConfigError (exit 2) for anything wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "file not found: create it (see jobs.yaml in the repository) or pass --jobs PATH",
            path=str(path),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file: {exc}", path=str(path)) from None
    return parse_config(text, str(path))


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
