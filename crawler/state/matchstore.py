"""`<tracker-dir>/matches.json`: the jobs each `match:` rule stood for in earlier runs, so a
job that paused (absent from deck's feed) stays crawled, and a run without the feed still
knows its jobs. One JSON object: rule key (MatchRule.key) -> {job: job-history URL}.

Shards of one schedule share the file, so a write takes `matches.lock`, merges with what is
on disk (jobs are only ever added) and replaces the file atomically.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping
from pathlib import Path

from crawler.core.builds import parse_job_url, validate_job_name
from crawler.core.errors import DiskFault
from crawler.state.files import replace_atomically
from crawler.state.tracker import TrackerError

MATCHES_FILE = "matches.json"
_LOCK_FILE = "matches.lock"
_WHAT_TO_DO = (
    "fix it or delete it (match items then stand for the jobs in the feed only; a paused "
    "job they matched before comes back when it runs again)"
)

Matches = dict[str, dict[str, str]]


class MatchStoreError(TrackerError):
    """matches.json cannot be used: the message names the file and says what to do."""


def matches_path(directory: Path) -> Path:
    return directory / MATCHES_FILE


def parse_matches(text: str, path: str) -> Matches:
    """The file's rules; an empty text is none. MatchStoreError for anything malformed: a
    job name that is not a file name, or a URL that is not that job's history."""
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise MatchStoreError(f"{path}: not JSON ({exc}); {_WHAT_TO_DO}") from None
    if not isinstance(data, dict):
        raise MatchStoreError(f"{path}: not a JSON object; {_WHAT_TO_DO}")
    matches: Matches = {}
    for key, jobs in data.items():
        if not isinstance(jobs, dict):
            raise MatchStoreError(f"{path}: rule {key[:80]!r} is not an object; {_WHAT_TO_DO}")
        matches[key] = {}
        for job, url in jobs.items():
            problem = _entry_problem(job, url)
            if problem is not None:
                raise MatchStoreError(
                    f"{path}: rule {key[:80]!r}, job {job[:80]!r}: {problem}; {_WHAT_TO_DO}"
                )
            matches[key][job] = url
    return matches


def _entry_problem(job: str, url: object) -> str | None:
    try:
        validate_job_name(job)
    except ValueError as exc:
        return str(exc)
    if not isinstance(url, str):
        return "the URL is not a string"
    try:
        parsed = parse_job_url(url)
    except ValueError as exc:
        return str(exc)[:300]
    if parsed.job != job or parsed.ignored:
        return f"{url[:200]!r} is not that job's history URL"
    return None


def _read(path: Path) -> Matches:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise MatchStoreError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MatchStoreError(f"{path}: not UTF-8 text; {_WHAT_TO_DO}") from None
    return parse_matches(text, str(path))


def load_matches(directory: Path) -> Matches:
    """What earlier runs remembered; {} when there is no file yet."""
    return _read(matches_path(directory))


def save_matches(directory: Path, matches: Mapping[str, Mapping[str, str]]) -> bool:
    """Add `matches` (patterns.Expansion.remembered) to the file; False when it held them all
    already (nothing written). DiskFault for a full or read-only filesystem."""
    path = matches_path(directory)
    lock = directory / _LOCK_FILE
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _write_error(lock, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for a read and a rename: milliseconds
        current = _read(path)
        merged = {key: dict(jobs) for key, jobs in current.items()}
        for key, jobs in matches.items():
            merged.setdefault(key, {}).update(jobs)
        if merged == current:
            return False
        text = json.dumps(merged, indent=1, sort_keys=True) + "\n"
        try:
            replace_atomically(path, text)
        except OSError as exc:
            raise _write_error(path, exc) from None
        return True
    finally:
        os.close(fd)  # drops the lock


def _write_error(path: Path, exc: OSError) -> DiskFault | MatchStoreError:
    fault = DiskFault.of(path, exc)
    if isinstance(fault, DiskFault):
        return fault
    return MatchStoreError(f"cannot write {path}: {exc.strerror or exc}")
