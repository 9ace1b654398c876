"""Read and validate jobs.yaml into typed settings (crawler/core/jobs.py); every error names the
file, the line and the key, and says what to do. `match:` items: settings/matchcheck.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

from crawler.core.builds import check_job_url, validate_job_name
from crawler.core.defaults import (
    DEFAULT_API_URL,
    DEFAULT_LIMIT,
    DEFAULT_ORIGIN,
    DISCOVERY_MODES,
    STAGE_MODES,
)
from crawler.core.errors import ConfigError
from crawler.core.horizon import Since, SinceError, parse_since
from crawler.core.jobs import (
    REPO_NAME,
    Config,
    JobSpec,
    JobTemplate,
    Limits,
    LogilicaSettings,
    OutputSettings,
    TriggeredBy,
)
from crawler.core.matching import MatchItem
from crawler.settings.config import pushgateway_problem
from crawler.settings.matchcheck import parse_match_item, parse_prow_base
from crawler.settings.patterns import default_prow_base
from crawler.settings.yamlcheck import Checker, Map, Seq

_JOB_KEYS = {"url", "repo", "name", "limit", "discovery", "since", "stages"}
_DEFAULT_KEYS = {"repo", "limit", "triggered_by", "discovery", "since", "stages", "feed"}
_TOP_KEYS = {"jobs", "defaults", "logilica", "limits", "output", "prow"}
_LIMIT_KEYS = {
    "deck_concurrency": True,
    "deck_rps": False,
    "gcs_concurrency": True,
    "logilica_concurrency": True,
    "logilica_rps": False,
    "timeout": False,
    "batch_size": True,
}


# `defaults:`, already validated: what a job without its own key gets.
_JobDefaults = JobTemplate


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

    out = check.section(top, "output", {"metrics_file", "pushgateway"})
    metrics_file = check.string(out, "metrics_file", "output")
    pushgateway = check.string(out, "pushgateway", "output")
    if pushgateway is not None and (problem := pushgateway_problem(pushgateway)):
        raise check.fail(f"output.pushgateway: {problem}", out.key_lines["pushgateway"])
    output = OutputSettings(Path(metrics_file) if metrics_file else None, pushgateway or None)

    feed = section.get("feed", True)
    if not isinstance(feed, bool):
        raise check.fail("defaults.feed must be true or false", section.key_lines["feed"])
    jobs, matches = _parse_jobs(check, top, defaults)
    if "prow" in top:
        prow = parse_prow_base(top["prow"], path=check.path, line=top.key_lines["prow"])
    else:
        prow = default_prow_base(j.url for j in jobs)
    return Config(
        jobs=jobs,
        triggered_by=triggered_by,
        limits=limits,
        logilica=logilica,
        output=output,
        path=path,
        prow=prow,
        feed=feed,
        matches=tuple(matches),
    )


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


def _parse_jobs(
    check: Checker, top: Map, defaults: _JobDefaults
) -> tuple[list[JobSpec], list[MatchItem[JobTemplate]]]:
    items = top["jobs"]
    jobs_line = top.key_lines["jobs"]
    if not isinstance(items, list) or not items:
        raise check.fail("'jobs' must be a non-empty list", jobs_line)
    jobs: list[JobSpec] = []
    matches: list[MatchItem[JobTemplate]] = []
    seen: dict[str, str] = {}
    seen_urls: dict[str, str] = {}
    for index, item in enumerate(items):
        where = f"jobs[{index}]"
        line = items.item_lines[index] if isinstance(items, Seq) else jobs_line
        if isinstance(item, Map) and "match" in item:
            rule = parse_match_item(item, path=check.path, where=where, line=line)
            matches.append(MatchItem(rule, _template(check, item, where, defaults)))
            continue
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
    return jobs, matches


def _template(check: Checker, m: Map, where: str, defaults: _JobDefaults) -> JobTemplate:
    """A job's own settings (repo, limit, discovery, since, stages), else `defaults:`."""
    limit = check.number(m, "limit", where, minimum=0, integer=True)
    return JobTemplate(
        repo=_repo(check, m, where) or defaults.repo,
        limit=defaults.limit if limit is None else limit,
        discovery=check.choice(m, "discovery", where, DISCOVERY_MODES) or defaults.discovery,
        since=_since(check, m, where) or defaults.since,
        stages=check.choice(m, "stages", where, STAGE_MODES) or defaults.stages,
    )


def _parse_job(check: Checker, item: Any, where: str, line: int, defaults: _JobDefaults) -> JobSpec:
    if not isinstance(item, Map):
        raise check.fail(
            f"{where} must be a job-history URL or a mapping with 'url' or 'match'", line
        )
    m = check.mapping(item, where, line, _JOB_KEYS)
    if "url" not in m:
        raise check.fail(
            f"{where}: missing required key 'url' (or 'match' for jobs by pattern)", m.line
        )
    job_url = check_job_url(m["url"], where=where, path=check.path, line=m.key_lines["url"])
    name = check.string(m, "name", where) or job_url.job
    try:
        validate_job_name(name)
    except ValueError as exc:
        raise check.fail(f"{where}: {exc}", m.key_lines.get("name", m.line)) from None
    return _template(check, m, where, defaults).job(name, job_url)


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
