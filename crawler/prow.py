"""Prow deck job-history pages: URL forms, page parsing (pure) and the history walk
(docs/formats.md#deck-job-history-pages)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, parse_qsl, urljoin, urlsplit

from crawler.errors import ConfigError

# Prow results that mean the build has not ended yet: there is no finished.json to read.
RUNNING_RESULTS = frozenset({"PENDING"})

_DIGITS = re.compile(r"[0-9]+")
# Job names become tracker file names; deck allows letters, digits and . _ -
_JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_ALL_BUILDS = "var allBuilds = "
# The Older link as deck renders it: <a href="...?buildId=N">&lt;- Older Runs</a>
_OLDER_LINK = re.compile(
    r"""<a\s[^>]*?href\s*=\s*["']([^"']*)["'][^>]*>\s*(?:&lt;|<)-\s*Older\s+Runs\s*</a>""",
    re.IGNORECASE,
)
_ZERO_TIME = "0001-01-01T00:00:00Z"
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


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    """A page entry that could not be used, with the reason (reported, never uploaded)."""

    id: str
    reason: str


@dataclass(frozen=True, slots=True)
class HistoryPage:
    builds: list[BuildRef]
    skipped: list[SkippedEntry]
    older_url: str | None


class PageError(ValueError):
    """The page is not a job-history page we can read (no or broken allBuilds)."""


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


def _entry_to_build(entry: object) -> BuildRef | SkippedEntry | None:
    """Map one allBuilds entry; None for entries deck itself marks as broken (empty ID)."""
    if not isinstance(entry, dict):
        return SkippedEntry("", "entry is not an object")
    build_id = entry.get("ID")
    if build_id == "" or build_id is None:
        return None
    if not isinstance(build_id, str) or not _DIGITS.fullmatch(build_id):
        return SkippedEntry(str(build_id)[:40], "ID is not a decimal number")
    if build_id != "0" and build_id.startswith("0"):
        # Deck formats IDs as integers; "0123" would be tracked as 123 yet uploaded as another
        # originalID than "123": a second copy of one build.
        return SkippedEntry(build_id[:40], "ID is not a canonical decimal number (leading zero)")
    link = entry.get("SpyglassLink")
    if not isinstance(link, str) or not link.startswith("/view/gs/"):
        return SkippedEntry(build_id, "SpyglassLink is not /view/gs/BUCKET/PATH")
    bucket, _, path = link.removeprefix("/view/gs/").rstrip("/").partition("/")
    segments = path.split("/")
    # The folder must end in the build's own ID; anything else would download another build.
    if not bucket or ".." in segments or "" in segments or segments[-1] != build_id:
        return SkippedEntry(build_id, f"SpyglassLink {link[:200]!r} does not name this build")
    result = entry.get("Result")
    result = result.upper() if isinstance(result, str) and result else "UNKNOWN"
    started = entry.get("Started")
    refs = entry.get("Refs")
    org = repo = None
    pull = None
    if isinstance(refs, dict):
        org_v, repo_v = refs.get("org"), refs.get("repo")
        if isinstance(org_v, str) and isinstance(repo_v, str) and org_v and repo_v:
            org, repo = org_v, repo_v
        pull = pull_from_refs(refs)
    return BuildRef(
        id=build_id,
        bucket=bucket,
        path=path,
        result=result,
        started=started if isinstance(started, str) else _ZERO_TIME,
        org=org,
        repo=repo,
        pull=pull,
    )


def parse_history_page(text: str, page_url: str) -> HistoryPage:
    """Decode the `allBuilds` JSON and the Older link of a job-history page.

    Raw-decodes JSON from right after `var allBuilds = ` (values may contain `]`, so a regex
    would cut them short). Raises PageError when the page has no readable build list.
    """
    start = text.find(_ALL_BUILDS)
    if start < 0:
        raise PageError("no 'var allBuilds = ' in the page: not a deck job-history page")
    try:
        entries, _ = json.JSONDecoder().raw_decode(text, start + len(_ALL_BUILDS))
    except json.JSONDecodeError as exc:
        raise PageError(f"allBuilds is not valid JSON: {exc.msg} at char {exc.pos}") from None
    except RecursionError:
        raise PageError("allBuilds is nested too deeply: not a deck job-history page") from None
    if not isinstance(entries, list):
        # /prowjobs.js?var=allBuilds uses the same name for {"items": [...]}: another endpoint.
        raise PageError("allBuilds is not a list: not a deck job-history page")
    builds: list[BuildRef] = []
    skipped: list[SkippedEntry] = []
    seen: set[str] = set()
    for entry in entries:
        item = _entry_to_build(entry)
        if item is None:
            continue
        if isinstance(item, SkippedEntry):
            skipped.append(item)
        elif item.id not in seen:
            seen.add(item.id)
            builds.append(item)
    return HistoryPage(builds=builds, skipped=skipped, older_url=_older_url(text, page_url))


def _older_url(text: str, page_url: str) -> str | None:
    """Absolute URL of the Older Runs link, kept on the page's own host and path."""
    match = _OLDER_LINK.search(text)
    if not match:
        return None
    href = urljoin(page_url, html.unescape(match.group(1)))
    older, current = urlsplit(href), urlsplit(page_url)
    # Deck's links are relative; never follow one that leaves the job's history.
    if (older.scheme, older.netloc, older.path) != (current.scheme, current.netloc, current.path):
        return None
    build_id = parse_qs(older.query).get("buildId", [""])[0]
    if not _DIGITS.fullmatch(build_id):
        return None
    return f"{current.scheme}://{current.netloc}{current.path}?buildId={build_id}"


def started_epoch(build: BuildRef) -> int | None:
    """The page's Started time as epoch seconds; None for deck's zero time or garbage."""
    if build.started == _ZERO_TIME:
        return None
    try:
        return int(datetime.fromisoformat(build.started.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


FetchPage = Callable[[str], Awaitable[HistoryPage]]


async def walk_history(
    fetch: FetchPage,
    job_url: str,
    *,
    first: HistoryPage | None = None,
    max_pages: int | None = None,
) -> AsyncIterator[HistoryPage]:
    """Yield history pages newest first, following Older links until the caller stops.

    `fetch` returns a parsed page (see parse_history_page), so the caller decides how to
    retry a page that came back broken; `first` is the newest page when the caller has it.

    Stops by itself at the last page, at `max_pages`, or if deck's Older link does not move
    strictly backwards (a loop guard: a broken deck must not keep us walking forever).
    """
    url: str | None = job_url
    pages = 0
    last_cursor: int | None = None
    while url is not None and (max_pages is None or pages < max_pages):
        page = first if first is not None and pages == 0 else await fetch(url)
        pages += 1
        yield page
        url = page.older_url
        if url is not None:
            cursor = int(parse_qs(urlsplit(url).query)["buildId"][0])
            if last_cursor is not None and cursor >= last_cursor:
                return
            last_cursor = cursor


def check_job_url(url: object, *, where: str, path: str, line: int | None) -> JobURL:
    """parse_job_url for config files: errors name the file and line."""
    if not isinstance(url, str):
        raise ConfigError(f"{where}: url must be a string", path=path, line=line)
    try:
        return parse_job_url(url)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}", path=path, line=line) from None
