"""Builds and jobs as Prow names them: job-history URL forms, job-name rules, a build's folder and
first pull (BuildRef, PullRef), its start time. Pure (docs/formats.md#deck-job-history-pages)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

from crawler.core.errors import ConfigError

# Prow results that mean the build has not ended yet: there is no finished.json to read.
RUNNING_RESULTS = frozenset({"PENDING"})

DIGITS = re.compile(r"[0-9]+")
# Job names become tracker file names; deck allows letters, digits and . _ -
_JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
ZERO_TIME = "0001-01-01T00:00:00Z"
_MAX_BUILD_ID = 2**64 - 1  # deck parses buildId as a uint64


@dataclass(frozen=True, slots=True)
class JobURL:
    """A job-history URL split into its parts.

    `base` is scheme://host[:port]; `prefix` is `logs` or `pr-logs/directory`. `ignored` is
    the query a URL copied from the browser carried (`?buildId=...`, a page further back):
    deck shows the same job without it, so it is dropped, and `validate` says so.
    """

    base: str
    bucket: str
    prefix: str
    job: str
    ignored: str = field(default="", compare=False)

    @property
    def url(self) -> str:
        return f"{self.base}/job-history/gs/{self.bucket}/{self.prefix}/{self.job}"

    @property
    def presubmit(self) -> bool:
        return self.prefix == "pr-logs/directory"


def validate_job_name(name: str) -> str:
    """Reject names that cannot safely become a file name (separators, `..`, NUL, empty)."""
    if not name or not _JOB_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"job name {name!r} is not usable as a tracker file name "
            "(allowed: letters, digits, '.', '_', '-'; no '/', '\\' or '..')"
        )
    return name


def parse_job_url(url: str) -> JobURL:
    """Split any job-history URL form deck accepts; ValueError if it is not one.

    Follows deck's own parser (docs/formats.md#deck-job-history-pages): the old form without
    `gs/`, `?buildId=` empty or a build ID; only GCS storage is read.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http(s) URL")
    if parts.fragment:
        raise ValueError(f"{url!r}: a job-history URL has no #fragment")
    ignored = _check_query(url, parts.query)
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 4 or segments[0] != "job-history":
        raise ValueError(
            f"{url!r} is not a job-history URL "
            "(expected https://HOST/job-history/gs/BUCKET/logs/JOB)"
        )
    rest = segments[1:]
    if rest[0] == "s3":
        raise ValueError(
            f"{url!r} names S3 storage: prow-crawler reads GCS buckets only "
            "(.../job-history/gs/BUCKET/...)"
        )
    if rest[0] == "gs":
        rest = rest[1:]
    if len(rest) == 3 and rest[1] == "logs":
        bucket, prefix, job = rest[0], "logs", rest[2]
    elif len(rest) == 4 and rest[1:3] == ["pr-logs", "directory"]:
        bucket, prefix, job = rest[0], "pr-logs/directory", rest[3]
    else:
        raise ValueError(
            f"{url!r} is not a job-history URL: expected .../job-history/gs/BUCKET/logs/JOB "
            "or .../job-history/gs/BUCKET/pr-logs/directory/JOB"
        )
    validate_job_name(job)
    base = f"{parts.scheme}://{parts.netloc}"
    return JobURL(base=base, bucket=bucket, prefix=prefix, job=job, ignored=ignored)


def _check_query(url: str, query: str) -> str:
    """The query to drop: only deck's `buildId` (empty, or 1 to 2**64-1), as deck allows."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    keys = {k for k, _ in pairs}
    if keys - {"buildId"}:
        raise ValueError(
            f"{url!r}: unexpected query {query!r}: a job-history URL takes only ?buildId="
        )
    value = pairs[0][1]
    if value and (
        not value.isascii() or not value.isdigit() or not 1 <= int(value) <= _MAX_BUILD_ID
    ):
        raise ValueError(f"{url!r}: buildId={value!r} is not a build ID (deck refuses it too)")
    return f"?{query}"


@dataclass(frozen=True, slots=True)
class PullRef:
    """The first pull request of a presubmit's refs: what the record mapping needs of it."""

    number: int
    author: str
    sha: str
    link: str


@dataclass(frozen=True, slots=True)
class BuildRef:
    """One build listed on a job-history page, kept small: a backfill holds many of them."""

    id: str
    bucket: str
    path: str
    result: str
    started: str
    org: str | None = None
    repo: str | None = None
    pull: PullRef | None = None
    # Found in a bucket listing as `pr-logs/directory/JOB/ID`: the folder is still to be read
    # from that index entry (see discovery.resolve_indirect).
    indirect: bool = False

    @property
    def key(self) -> int:
        """Build IDs are unsigned integers of any width; compare them as such."""
        return int(self.id)

    @property
    def running(self) -> bool:
        return self.result in RUNNING_RESULTS

    @property
    def spyglass_path(self) -> str:
        return f"/view/gs/{self.bucket}/{self.path}"


def pull_from_refs(refs: dict[str, object]) -> PullRef | None:
    """The first pull of a ProwJob's refs: deck's `Refs` and prowjob.json `spec.refs` alike."""
    pulls = refs.get("pulls")
    if not isinstance(pulls, list) or not pulls or not isinstance(pulls[0], dict):
        return None
    first = pulls[0]
    number = first.get("number")
    if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
        return None

    def text(key: str) -> str:
        value = first.get(key)  # verbatim: it is data, and Logilica's JSON carries it safely
        return value if isinstance(value, str) else ""

    return PullRef(number=number, author=text("author"), sha=text("sha"), link=text("link"))


def started_epoch(build: BuildRef) -> int | None:
    """The page's Started time as epoch seconds; None for deck's zero time or garbage."""
    if build.started == ZERO_TIME:
        return None
    try:
        return int(datetime.fromisoformat(build.started.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def check_job_url(url: object, *, where: str, path: str, line: int | None) -> JobURL:
    """parse_job_url for config files: errors name the file and line."""
    if not isinstance(url, str):
        raise ConfigError(f"{where}: url must be a string", path=path, line=line)
    try:
        return parse_job_url(url)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}", path=path, line=line) from None
