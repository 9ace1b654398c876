"""Deck's job-history pages: one page parsed (pure: its builds and the link to older ones) and
the walk from the newest page back (docs/formats.md#deck-job-history-pages)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

from crawler.core.builds import DIGITS, ZERO_TIME, BuildRef, pull_from_refs

_ALL_BUILDS = "var allBuilds = "

# The Older link as deck renders it: <a href="...?buildId=N">&lt;- Older Runs</a>
_OLDER_LINK = re.compile(
    r"""<a\s[^>]*?href\s*=\s*["']([^"']*)["'][^>]*>\s*(?:&lt;|<)-\s*Older\s+Runs\s*</a>""",
    re.IGNORECASE,
)


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


def _entry_to_build(entry: object) -> BuildRef | SkippedEntry | None:
    """Map one allBuilds entry; None for entries deck itself marks as broken (empty ID)."""
    if not isinstance(entry, dict):
        return SkippedEntry("", "entry is not an object")
    build_id = entry.get("ID")
    if build_id == "" or build_id is None:
        return None
    if not isinstance(build_id, str) or not DIGITS.fullmatch(build_id):
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
        started=started if isinstance(started, str) else ZERO_TIME,
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
    if not DIGITS.fullmatch(build_id):
        return None
    return f"{current.scheme}://{current.netloc}{current.path}?buildId={build_id}"


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
