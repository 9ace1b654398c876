"""Read and validate jobs.yaml into typed settings; every error names file, line and key."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from crawler.errors import ConfigError
from crawler.prow import JobURL, check_job_url, validate_job_name

DEFAULT_API_URL = "https://logilica.io/api/import/v1"
DEFAULT_ORIGIN = "OpenShift_CI"
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
class JobSpec:
    """One job to crawl, with its per-job options resolved against `defaults:`."""

    name: str
    url: JobURL
    repo: str | None = None
    limit: int | None = None
    discovery: str | None = None  # deck | gcs; None = the run's default


@dataclass(frozen=True)
class Config:
    jobs: list[JobSpec]
    triggered_by: TriggeredBy = field(default_factory=TriggeredBy)
    limits: Limits = field(default_factory=Limits)
    logilica: LogilicaSettings = field(default_factory=LogilicaSettings)
    path: str | None = None


class _Map(dict[str, Any]):
    """A YAML mapping that remembers its own line and the line of each key (1-based)."""

    line: int
    key_lines: dict[str, int]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader (no arbitrary objects) whose mappings carry line numbers for error messages."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    result = _Map()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise ConfigError(f"key {key!r} is not a string", line=key_node.start_mark.line + 1)
        if key in result:
            raise ConfigError(f"duplicate key {key!r}", line=key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


class _Seq(list[Any]):
    """A YAML sequence that remembers the line of each item (1-based)."""

    item_lines: list[int]


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> _Seq:
    result = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


class _Checker:
    """Validation helpers bound to one file, so each error carries the file name."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, message: str, line: int | None) -> ConfigError:
        return ConfigError(message, path=self.path, line=line)

    def mapping(self, value: Any, where: str, line: int | None, allowed: set[str]) -> _Map:
        if not isinstance(value, _Map):
            raise self.fail(f"{where} must be a mapping", line)
        for key in value:
            if key not in allowed:
                raise self.fail(
                    f"unknown key {key!r} in {where} (allowed: {', '.join(sorted(allowed))})",
                    value.key_lines[key],
                )
        return value

    def string(self, m: _Map, key: str, where: str) -> str | None:
        value = m.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key} must be a non-empty string", m.key_lines[key])
        return value.strip()

    def number(self, m: _Map, key: str, where: str, *, minimum: float, integer: bool) -> Any:
        value = m.get(key)
        if value is None:
            return None
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        # `not value >= minimum` also rejects YAML's .nan, which compares false to anything.
        if not ok or isinstance(value, bool) or not value >= minimum:
            kind = "a whole number" if integer else "a number"
            raise self.fail(f"{where}.{key} must be {kind} >= {minimum:g}", m.key_lines[key])
        return value

    def discovery(self, m: _Map, where: str) -> str | None:
        mode = self.string(m, "discovery", where)
        if mode is not None and mode not in DISCOVERY_MODES:
            raise self.fail(
                f"{where}.discovery {mode!r} is not one of {', '.join(DISCOVERY_MODES)}",
                m.key_lines["discovery"],
            )
        return mode

    def repo(self, m: _Map, where: str) -> str | None:
        repo = self.string(m, "repo", where)
        if repo is not None and not REPO_NAME.fullmatch(repo):
            raise self.fail(f"{where}.repo {repo!r} is not ORG/NAME", m.key_lines["repo"])
        return repo


_JOB_KEYS = {"url", "repo", "name", "limit", "discovery"}
DISCOVERY_MODES = ("auto", "deck", "gcs")
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


def parse_config(text: str, path: str = "jobs.yaml") -> Config:
    """Validate the text of a jobs file (pure: no file or network access)."""
    check = _Checker(path)
    try:
        data = yaml.load(text, Loader=_LineLoader)
    except ConfigError as exc:
        raise check.fail(exc.detail, exc.line) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and context_mark is not None:
            # An unclosed bracket is only noticed where the file ends; say where it opened.
            problem += f" ({context} that starts on line {context_mark.line + 1})"
        raise check.fail(f"YAML syntax error: {problem}", mark.line + 1 if mark else None) from None
    if data is None:
        raise check.fail("the file is empty: it needs a 'jobs:' list", None)
    top = check.mapping(data, "the top level", 1, _TOP_KEYS)
    if "jobs" not in top:
        raise check.fail("missing 'jobs:' (a list of job-history URLs or mappings)", top.line)

    defaults = check.mapping(
        top.get("defaults", _empty(top, "defaults")),
        "defaults",
        top.key_lines.get("defaults"),
        {"repo", "limit", "triggered_by", "discovery"},
    )
    default_repo = check.repo(defaults, "defaults")
    default_limit = check.number(defaults, "limit", "defaults", minimum=0, integer=True)
    default_discovery = check.discovery(defaults, "defaults")
    triggered_by = TriggeredBy()
    if "triggered_by" in defaults:
        tb = check.mapping(
            defaults["triggered_by"],
            "defaults.triggered_by",
            defaults.key_lines["triggered_by"],
            {"name", "email", "account_id"},
        )
        where = "defaults.triggered_by"
        triggered_by = TriggeredBy(
            name=check.string(tb, "name", where) or triggered_by.name,
            email=_email(check, tb, where),
            account_id=check.string(tb, "account_id", where) or triggered_by.account_id,
        )

    lg = check.mapping(
        top.get("logilica", _empty(top, "logilica")),
        "logilica",
        top.key_lines.get("logilica"),
        {"domain", "api_url", "origin"},
    )
    logilica = LogilicaSettings(
        domain=check.string(lg, "domain", "logilica"),
        api_url=check.string(lg, "api_url", "logilica") or DEFAULT_API_URL,
        origin=check.string(lg, "origin", "logilica") or DEFAULT_ORIGIN,
    )
    if not logilica.api_url.startswith(("https://", "http://")):
        raise check.fail("logilica.api_url must be an http(s) URL", lg.key_lines["api_url"])

    lm = check.mapping(
        top.get("limits", _empty(top, "limits")),
        "limits",
        top.key_lines.get("limits"),
        set(_LIMIT_KEYS),
    )
    limit_values = {}
    for key, integer in _LIMIT_KEYS.items():
        value = check.number(lm, key, "limits", minimum=1 if integer else 0.001, integer=integer)
        if value is not None:
            limit_values[key] = value
    limits = replace(Limits(), **limit_values)

    jobs = _parse_jobs(check, top, default_repo, default_limit, default_discovery)
    return Config(jobs=jobs, triggered_by=triggered_by, limits=limits, logilica=logilica, path=path)


def _email(check: _Checker, tb: _Map, where: str) -> str:
    """An empty email is allowed: Logilica accepts it, and bots often have none."""
    value = tb.get("email")
    if value is None or value == "":
        return ""
    return check.string(tb, "email", where) or ""


def _empty(parent: _Map, key: str) -> _Map:
    m = _Map()
    m.line = parent.key_lines.get(key, parent.line)
    m.key_lines = {}
    return m


def _parse_jobs(
    check: _Checker,
    top: _Map,
    default_repo: str | None,
    default_limit: int | None,
    default_discovery: str | None,
) -> list[JobSpec]:
    items = top["jobs"]
    jobs_line = top.key_lines["jobs"]
    if not isinstance(items, list) or not items:
        raise check.fail("'jobs' must be a non-empty list", jobs_line)
    jobs: list[JobSpec] = []
    seen: dict[str, str] = {}
    seen_urls: dict[str, str] = {}
    for index, item in enumerate(items):
        where = f"jobs[{index}]"
        line = items.item_lines[index] if isinstance(items, _Seq) else jobs_line
        if isinstance(item, str):
            job_url = check_job_url(item, where=where, path=check.path, line=line)
            name, repo, limit = job_url.job, default_repo, default_limit
            discovery = default_discovery
        else:
            if not isinstance(item, _Map):
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
            repo = check.repo(m, where) or default_repo
            limit = check.number(m, "limit", where, minimum=0, integer=True)
            limit = default_limit if limit is None else limit
            discovery = check.discovery(m, where) or default_discovery
        if name in seen:
            raise check.fail(
                f"{where}: job {name!r} is listed twice (first as {seen[name]}); "
                "remove one or give it another 'name'",
                line,
            )
        if job_url.url in seen_urls:
            raise check.fail(
                f"{where}: {job_url.url} is listed twice (first as {seen_urls[job_url.url]}); "
                "its builds would be uploaded twice",
                line,
            )
        seen[name] = where
        seen_urls[job_url.url] = where
        jobs.append(JobSpec(name=name, url=job_url, repo=repo, limit=limit, discovery=discovery))
    return jobs


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


def single_job_config(url: str, repo: str | None, limit: int | None) -> Config:
    """The config behind `crawl --job-url`: one job, everything else default."""
    job_url = check_job_url(url, where="--job-url", path="--job-url", line=None)
    if repo is not None and not REPO_NAME.fullmatch(repo):
        raise ConfigError(f"--repo {repo!r} is not ORG/NAME")
    return Config(jobs=[JobSpec(name=job_url.job, url=job_url, repo=repo, limit=limit)])


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
