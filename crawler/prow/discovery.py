"""Finding a job's new builds. Deck's newest page is the truth; a bucket listing only speeds up
reading the rest of the history, and is used only while it agrees with that page.

Every run reads the newest page (one request): it says that the job exists, which buckets
hold its builds and which builds still run. Then either the deck walk goes on down the
Older links, or the job's folder is listed in every bucket that page names (1000 builds a
request). A listing that is refused (401/403), or that lacks a finished build the newest page
shows, is not trusted for the job: deck is walked instead, and the job's checkpoint
remembers it. See docs/formats.md for the page, the listing and the build IDs.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from crawler.core.builds import BuildRef, started_epoch
from crawler.core.errors import BuildError, CrawlerError, RemoteError
from crawler.core.found import PENDING_GIVE_UP_SECONDS, Found, ListingVerdict, Settled
from crawler.core.horizon import Horizon, build_started, snowflake_seconds
from crawler.core.jobs import JobSpec
from crawler.prow.deck import DeckClient
from crawler.prow.feed import Feed
from crawler.prow.feedsource import from_feed
from crawler.prow.feedtrust import check_page, merge_trust, why_not_feed, why_not_yet
from crawler.prow.gcs import GcsReader
from crawler.prow.pages import HistoryPage, PageError, walk_history

# In auto discovery, a job that ended its last run with more unsettled builds than a deck page
# holds is still catching up: list the bucket rather than walk pages.
AUTO_LIST_BACKLOG = 20
# Buckets deck is known to merge with the one a job URL names; the buckets its newest page
# names are listed as well, so this is a hint, never the whole story.
BUCKET_SIBLINGS = {
    "test-platform-results": ("test-platform-results-public",),
    "origin-ci-test": ("test-platform-results", "test-platform-results-public"),
}
# As on deck pages: a folder "0123" is not build 123 (see prow._entry_to_build).
_ID = re.compile(r"0|[1-9][0-9]*")
_GS_URL = re.compile(r"gs://([a-z0-9][a-z0-9._-]*)/(\S+)")
# IDs of this width and more are snowflakes; text order is numeric order only at one width.
_SNOWFLAKE_DIGITS = 19


@dataclass(frozen=True)
class Plan:
    """How to discover one job in this run."""

    mode: str = "auto"  # auto | deck | gcs
    limit: int = 0  # 0: no limit
    max_pages: int | None = None
    horizon: Horizon | None = None
    now: float = field(default_factory=time.time)


class _Collector:
    """Sorts the builds discovery sees, newest first, into settled, running and new; keeps the
    oldest `limit` new ones (the newer ones stay unsettled for a later run)."""

    def __init__(self, settled: Settled, plan: Plan, found: Found) -> None:
        self.settled = settled
        self.plan = plan
        self.found = found
        self.keep: deque[BuildRef] = deque(maxlen=plan.limit or None)

    def before_horizon(self, build: BuildRef, started: int | None) -> bool:
        horizon = self.plan.horizon
        return horizon is not None and horizon.excludes(build.key, started)

    def offer(self, build: BuildRef, started: int | None) -> None:
        """Take one build seen after the horizon."""
        out, key = self.found, build.key
        out.found += 1
        if out.newest is None or key > out.newest:
            out.newest = key
        if key in self.settled:
            return
        if build.running:
            out.running += 1
            began = build_started(key, started)
            if began is not None and self.plan.now - began >= PENDING_GIVE_UP_SECONDS:
                return  # abandoned: no finished.json will come
            out.unsettled.add(key)
            out.running_ids.add(key)
            out.running_refs.append(build)
            return
        out.new += 1
        if self.keep.maxlen is not None and len(self.keep) == self.keep.maxlen:
            out.deferred += 1  # keep[0] is evicted; it stays unsettled
        self.keep.append(build)
        out.unsettled.add(key)

    def result(self) -> Found:
        self.found.candidates = list(reversed(self.keep))
        return self.found


async def discover(
    deck: DeckClient,
    gcs: GcsReader,
    job: JobSpec,
    settled: Settled,
    plan: Plan,
    feed: Feed | FeedSource | None = None,
) -> Found:
    """Find the job's new builds: from deck's feed alone where it covers the job (feedtrust),
    else from its newest page on, which is then held against the feed. `feed` may still be
    on its way (a FeedSource): only a job the feed may cover waits for it; the others read
    their page at once and take the feed for the check afterwards. Raises CrawlerError or
    PageError when the page cannot be read: then nothing about the job can be trusted."""
    source = _source(feed)
    if source is not None and why_not_yet(settled) is None:
        feed = await source()
        if feed is not None and why_not_feed(job.url.job, settled, feed) is None:
            collector = _Collector(settled, plan, Found())
            from_feed(job, settled, feed, collector)
            return collector.result()
    newest = await deck.page(job.url.url)
    found = await _from_newest(deck, gcs, job, settled, plan, newest)
    feed = await source() if source is not None else None
    if feed is not None:
        found.feed = merge_trust(settled.feed, check_page(job.url.job, newest, feed))
        if found.feed.blind and not settled.feed.blind:
            found.notes.append(
                f"feed: blind for this job, its page is read every run: {found.feed.blind}"
            )
    return found


# Deck's feed as the run gets it: read once, awaited by every job that needs it.
FeedSource = Callable[[], Awaitable[Feed | None]]


def _source(feed: Feed | FeedSource | None) -> FeedSource | None:
    if not isinstance(feed, Feed):
        return feed

    async def known() -> Feed:
        return feed

    return known


async def _from_newest(
    deck: DeckClient,
    gcs: GcsReader,
    job: JobSpec,
    settled: Settled,
    plan: Plan,
    newest: HistoryPage,
) -> Found:
    """The job's new builds from its newest page down: a trusted listing, or deck's walk."""
    buckets = listing_buckets(job, newest)
    verdict: ListingVerdict | None = None
    if (
        choose_mode(plan, settled, buckets, more_pages=_walk_goes_on(newest, settled, plan))
        == "gcs"
    ):
        listed = await _list(gcs, job, plan, settled, buckets)
        if isinstance(listed, ListingVerdict):
            verdict = listed
        else:
            verdict = _check_listing(newest, listed, settled, plan, buckets)
            if verdict.trusted:
                return await _from_listing(gcs, job, settled, plan, newest, listed, verdict)
    found = Found(listing=verdict)
    if verdict is not None:
        found.notes.append(f"{verdict.reason}: walking deck pages instead")
    collector = _Collector(settled, plan, found)
    try:
        await _walk(deck, job, newest, collector)
    except (CrawlerError, PageError) as exc:
        # What was found so far is still processed; the walk is not complete, so the floor
        # stays where it was and the next run reads the unread part again.
        found.error = f"job history: {exc}"
    return collector.result()


def listing_buckets(job: JobSpec, newest: HistoryPage) -> tuple[str, ...]:
    """Buckets to list: those the newest page names (deck knows where builds are now), the
    job URL's, and the ones deck is known to merge with it."""
    named = [b.bucket for b in newest.builds]
    candidates = [*named, job.url.bucket, *BUCKET_SIBLINGS.get(job.url.bucket, ())]
    return tuple(dict.fromkeys(candidates))


def _walk_goes_on(newest: HistoryPage, settled: Settled, plan: Plan) -> bool:
    """Whether walking deck would need pages beyond the newest: it has an older page, and
    every build on it is above the floor and after the horizon."""
    if newest.older_url is None or not newest.builds:
        return False
    lowest = min(newest.builds, key=lambda b: b.key)
    if lowest.key < settled.floor:
        return False
    horizon = plan.horizon
    return horizon is None or not horizon.excludes(lowest.key, started_epoch(lowest))


def choose_mode(
    plan: Plan, settled: Settled, buckets: tuple[str, ...], *, more_pages: bool = False
) -> str:
    """deck or gcs for this run. auto lists while a job catches up (no floor yet, a backlog
    bigger than a deck page, or more new builds than its newest page shows: `more_pages`)
    and walks deck once it is up to date. Deck pages are rate-limited and shared by every
    job; a listing is not, and costs a request or two per bucket."""
    if plan.mode == "deck" or (plan.mode == "auto" and plan.max_pages is not None):
        return "deck"
    if settled.distrusted and set(buckets) <= set(settled.distrusted):
        return "deck"  # this listing already proved blind for the job: no detour again
    if plan.mode == "gcs":
        return "gcs"
    catching_up = settled.floor == 0 or settled.backlog > AUTO_LIST_BACKLOG or more_pages
    return "gcs" if catching_up else "deck"


async def _walk(deck: DeckClient, job: JobSpec, newest: HistoryPage, into: _Collector) -> None:
    """Walk back from the newest page until a settled page below the floor, the horizon or
    the end of the history."""
    found, floor = into.found, into.settled.floor
    async for page in walk_history(
        deck.page, job.url.url, first=newest, max_pages=into.plan.max_pages
    ):
        found.pages += 1
        found.problems += [f"build {e.id or '?'}: page entry {e.reason}" for e in page.skipped]
        horizon_reached = False
        for build in page.builds:
            started = started_epoch(build)
            if into.before_horizon(build, started):
                horizon_reached = True
            else:
                into.offer(build, started)
        # Pages are sorted by ID, newest first: once one reaches below the floor, every older
        # page holds only settled builds.
        lowest = min((b.key for b in page.builds), default=None)
        below_floor = lowest is not None and lowest < floor
        if page.older_url is None or horizon_reached or below_floor:
            found.complete = True
            return


async def _list(
    gcs: GcsReader, job: JobSpec, plan: Plan, settled: Settled, buckets: tuple[str, ...]
) -> dict[int, str] | ListingVerdict:
    """Build ID -> bucket for every build folder listed from the lower bound up; a verdict
    instead when a bucket refuses to be listed. The buckets are listed at once (each is a
    round trip or more, and a catching-up job waits for all of them); a build listed in
    two buckets belongs to the first one named."""
    prefix = listing_prefix(job)
    bound = max(settled.floor, plan.horizon.first_id if plan.horizon else 0)
    start = f"{prefix}{bound}" if len(str(bound)) >= _SNOWFLAKE_DIGITS else None

    async def ids_in(bucket: str) -> list[int]:
        ids: list[int] = []
        async for page in gcs.list_folder(bucket, prefix, start_offset=start):
            for entry in page.names if job.url.presubmit else page.prefixes:
                build_id = build_id_from_listing(prefix, entry, job.url.presubmit)
                # Servers may ignore startOffset, and it compares text: filter as numbers.
                if build_id is not None and int(build_id) >= settled.floor:
                    ids.append(int(build_id))
        return ids

    results = await asyncio.gather(*(ids_in(b) for b in buckets), return_exceptions=True)
    listed: dict[int, str] = {}
    for bucket, result in zip(buckets, results, strict=True):
        if isinstance(result, RemoteError) and result.status in (401, 403):
            reason = f"gs://{bucket} refused anonymous listing (HTTP {result.status})"
            return ListingVerdict(False, buckets, reason)
    for bucket, result in zip(buckets, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        for build_id in result:
            listed.setdefault(build_id, bucket)
    return listed


def _check_listing(
    newest: HistoryPage,
    listed: dict[int, str],
    settled: Settled,
    plan: Plan,
    buckets: tuple[str, ...],
) -> ListingVerdict:
    """Trusted only if it has every finished build the newest page shows that is still to
    do: an empty answer is no proof that there is nothing (a wrong bucket, a hidden folder)."""
    horizon = plan.horizon
    missing = [
        b.id
        for b in newest.builds
        if not b.running
        and b.key not in settled
        and b.key not in listed
        and not (horizon is not None and horizon.excludes(b.key, started_epoch(b)))
    ]
    if not missing:
        return ListingVerdict(True, buckets)
    where = ", ".join(f"gs://{b}" for b in buckets)
    reason = (
        f"listing not trusted: deck's newest page shows {len(missing)} finished build(s) "
        f"({', '.join(missing[:3])}) that the listing of {where} does not have"
    )
    return ListingVerdict(False, buckets, reason)


async def _from_listing(
    gcs: GcsReader,
    job: JobSpec,
    settled: Settled,
    plan: Plan,
    newest: HistoryPage,
    listed: dict[int, str],
    verdict: ListingVerdict,
) -> Found:
    """The listed builds, with what deck's newest page says about those it shows (result,
    refs, the real folder of a presubmit)."""
    found = Found(via="gcs", listing=verdict, pages=1, complete=True)
    found.problems += [f"build {e.id or '?'}: page entry {e.reason}" for e in newest.skipped]
    on_page = {b.key: b for b in newest.builds}
    prefix = listing_prefix(job)
    collector = _Collector(settled, plan, found)
    for key in sorted(listed.keys() | on_page.keys(), reverse=True):
        build = on_page.get(key)
        started = started_epoch(build) if build is not None else None
        if build is None:
            build = BuildRef(
                id=str(key),
                bucket=listed[key],
                path=f"{prefix}{key}",
                result="UNKNOWN",
                started="0001-01-01T00:00:00Z",
                indirect=job.url.presubmit,
            )
            if plan.horizon is not None and key not in settled:
                started = await _started_of(gcs, build)
        if key >= settled.floor and not collector.before_horizon(build, started):
            collector.offer(build, started)
    return collector.result()


async def _started_of(gcs: GcsReader, ref: BuildRef) -> int | None:
    """started.json's timestamp, for a small old ID (no time in it) near a horizon."""
    if snowflake_seconds(ref.key) is not None:
        return None  # a snowflake tells its own time
    try:
        folder = await resolve_indirect(gcs, ref)
        doc = await gcs.read_json(folder.bucket, f"{folder.path}/started.json")
    except (CrawlerError, ValueError):
        return None
    value = doc.get("timestamp") if isinstance(doc, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def listing_prefix(job: JobSpec) -> str:
    if job.url.presubmit:
        return f"pr-logs/directory/{job.url.job}/"
    return f"logs/{job.url.job}/"


def build_id_from_listing(prefix: str, entry: str, presubmit: bool) -> str | None:
    """`logs/JOB/123/` (a folder) or `pr-logs/directory/JOB/123.txt` (an index object) -> ID."""
    rest = entry.removeprefix(prefix)
    if presubmit:
        rest = rest.removesuffix(".txt") if rest.endswith(".txt") else ""
    else:
        rest = rest.removesuffix("/")
    return rest if _ID.fullmatch(rest) else None


def parse_directory_entry(body: str, build_id: str) -> tuple[str, str] | None:
    """`gs://BUCKET/pr-logs/pull/.../BUILD` -> (bucket, path), if it names this build."""
    match = _GS_URL.fullmatch(body.strip())
    if not match:
        return None
    bucket, path = match.group(1), match.group(2).strip("/")
    segments = path.split("/")
    if ".." in segments or "" in segments or segments[-1] != build_id:
        return None
    return bucket, path


async def resolve_indirect(gcs: GcsReader, ref: BuildRef) -> BuildRef:
    """A presubmit found in `pr-logs/directory/JOB/` -> the build folder its `ID.txt` names."""
    if not ref.indirect:
        return ref
    body = await gcs.read_text(ref.bucket, f"{ref.path}.txt")
    target = parse_directory_entry(body or "", ref.id)
    if target is None:
        raise BuildError(f"gs://{ref.bucket}/{ref.path}.txt does not name build {ref.id}'s folder")
    return replace(ref, bucket=target[0], path=target[1], indirect=False)
