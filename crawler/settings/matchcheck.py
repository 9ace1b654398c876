"""The syntax of jobs by pattern in jobs.yaml (`match:` items, top-level `prow:`), checked
offline for `validate`: every error is a ConfigError naming the file, the line and what to do.
Matching and expansion: crawler/settings/patterns.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, NoReturn
from urllib.parse import urlsplit

from crawler.core.errors import ConfigError
from crawler.core.jobs import REPO_NAME
from crawler.core.matching import TYPES, MatchRule

MATCH_KEYS = ("job", "type", "repo")
# A match item: the rule, what it takes out, and the settings each of its jobs gets.
ITEM_KEYS = frozenset({"match", "exclude", "repo", "limit", "discovery", "since", "stages"})
# What a glob over job names may hold: a job name's characters and fnmatch's own.
_GLOB = re.compile(r"[A-Za-z0-9._*?\[\]!-]+")
_BRACKETS = re.compile(r"\[!?\]?[^\]]*\]")
# A deck's host[:port]: a DNS name, IPv4 or a bracketed IPv6 address.
_NETLOC = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?")


def _fail(message: str, path: str, line: int | None) -> NoReturn:
    raise ConfigError(message, path=path, line=line)


def _lines(value: object) -> dict[str, int]:
    """Key lines of a yamlcheck.Map; a plain dict (tests, other callers) has none."""
    lines = getattr(value, "key_lines", None)
    return lines if isinstance(lines, dict) else {}


def _glob(value: object, where: str, path: str, line: int | None) -> str:
    if not isinstance(value, str):
        _fail(f'{where} must be a glob over job names (a string), e.g. "periodic-ci-*"', path, line)
    glob = value.strip()
    if not glob:
        _fail(f'{where} is empty: give a glob over job names, e.g. "periodic-ci-*"', path, line)
    if not _GLOB.fullmatch(glob):
        hint = "; to crawl one job-history URL, use 'url:' instead" if "/" in glob else ""
        _fail(
            f"{where} {glob!r} can never match a job name (they hold only letters, digits, "
            f"'.', '_' and '-'; a glob adds * ? [ ] !){hint}",
            path,
            line,
        )
    outside = _BRACKETS.sub("", glob)
    if "[" in outside or "]" in outside:
        _fail(
            f"{where} {glob!r} has an unbalanced '[' or ']': write a set as [abc] or [!abc]",
            path,
            line,
        )
    return glob


def _excludes(value: object, where: str, path: str, line: int | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        _fail(f'{where} must be a list of globs, e.g. exclude: ["*-rehearse-*"]', path, line)
    item_lines = getattr(value, "item_lines", None) or [line] * len(value)
    return tuple(_glob(glob, f"{where}[{i}]", path, item_lines[i]) for i, glob in enumerate(value))


def parse_match(
    value: object,
    *,
    path: str,
    line: int | None,
    where: str = "",
    exclude: object = None,
    exclude_line: int | None = None,
) -> MatchRule:
    """`match:` (a glob, or a mapping of job, type and repo) and its `exclude:` list; `where`
    names the item in messages (e.g. jobs[2])."""
    prefix = f"{where}." if where else ""
    excludes = _excludes(exclude, f"{prefix}exclude", path, exclude_line)
    where = f"{prefix}match"
    if isinstance(value, str) or value is None:
        glob = _glob(value or "", where, path, line)
        return MatchRule(job=glob, excludes=excludes, text=json.dumps(glob))
    if not isinstance(value, Mapping):
        _fail(
            f"{where} must be a glob over job names (a string) or a mapping with "
            f"{', '.join(MATCH_KEYS)}",
            path,
            line,
        )
    lines = _lines(value)
    for key in value:
        if key not in MATCH_KEYS:
            hint = f"; {key!r} goes beside 'match', not inside it" if key in ITEM_KEYS else ""
            _fail(
                f"unknown key {key!r} in {where} (allowed: {', '.join(MATCH_KEYS)}){hint}",
                path,
                lines.get(key, line),
            )
    if not value:
        _fail(f"{where} needs at least one of {', '.join(MATCH_KEYS)}", path, line)
    job = kind = repo = None
    if "job" in value:
        job = _glob(value["job"], f"{where}.job", path, lines.get("job", line))
    if "type" in value:
        kind = _stripped(value["type"])
        if kind not in TYPES:
            _fail(
                f"{where}.type {kind!r} is not one of {', '.join(TYPES)}",
                path,
                lines.get("type", line),
            )
    if "repo" in value:
        repo = _stripped(value["repo"])
        if not isinstance(repo, str) or not REPO_NAME.fullmatch(repo):
            _fail(
                f"{where}.repo {repo!r} is not ORG/NAME (e.g. openshift/origin); it picks the "
                "jobs of that repository (the Logilica repository is the item's own 'repo:')",
                path,
                lines.get("repo", line),
            )
    shown = [f"job: {json.dumps(job)}" if job else "", f"type: {kind}" if kind else ""]
    shown.append(f"repo: {repo}" if repo else "")
    text = "{" + ", ".join(s for s in shown if s) + "}"
    return MatchRule(job=job, type=kind, repo=repo, excludes=excludes, text=text)


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def parse_match_item(item: Mapping[str, Any], *, path: str, where: str, line: int) -> MatchRule:
    """A jobs.yaml item with `match:`: its keys checked (ITEM_KEYS), then parse_match. The
    settings (repo, limit, since, discovery, stages) are the caller's to read."""
    lines = _lines(item)
    if "url" in item:
        _fail(
            f"{where} has both 'url' (one job) and 'match' (jobs by pattern): split it into "
            "two items",
            path,
            lines.get("url", line),
        )
    if "name" in item:
        _fail(
            f"{where}: 'name' renames one job, while a 'match' item's jobs keep their own "
            "names: remove it, or list that job by 'url'",
            path,
            lines.get("name", line),
        )
    for key in item:
        if key not in ITEM_KEYS:
            _fail(
                f"unknown key {key!r} in {where} (allowed: {', '.join(sorted(ITEM_KEYS))})",
                path,
                lines.get(key, line),
            )
    return parse_match(
        item["match"],
        path=path,
        line=lines.get("match", line),
        where=where,
        exclude=item.get("exclude"),
        exclude_line=lines.get("exclude", line),
    )


def parse_prow_base(value: object, *, path: str, line: int | None) -> str:
    """Top-level `prow:`: deck's base URL, `https://HOST` or `http://HOST:PORT`, no path;
    returned as scheme://host[:port]."""
    text = value.strip() if isinstance(value, str) else ""
    problem = _prow_problem(text)
    if problem is not None:
        _fail(
            f"prow {str(value)[:200]!r} {problem} (e.g. https://prow.ci.openshift.org)",
            path,
            line,
        )
    parts = urlsplit(text)
    return f"{parts.scheme}://{parts.netloc}"


def _prow_problem(text: str) -> str | None:
    try:
        parts = urlsplit(text)
        _ = parts.port  # ValueError for a port that is not a number in range
    except ValueError:
        return "has a bad host or port"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL"
    if parts.username is not None or parts.password is not None:
        return "holds a user name or password"
    if not _NETLOC.fullmatch(parts.netloc):
        return "has a bad host or port"
    if parts.path.strip("/") or parts.query or parts.fragment:
        return "has a path: give only the deck's scheme, host and port"
    return None
