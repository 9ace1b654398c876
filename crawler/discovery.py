"""Finding a job's new builds: by walking deck's history pages, or by listing the GCS bucket.

Both fill `keep` with the untracked builds to process, in the order the pipeline consumes
them (newest first, so that with a bounded deque the oldest `limit` ones survive).
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from crawler.config import JobSpec
from crawler.errors import BuildError
from crawler.gcs import GcsReader
from crawler.prow import BuildRef, HistoryPage, SkippedEntry, started_epoch, walk_history
from crawler.report import JobStats

# A build deck still shows as running after this long has been abandoned (its pod died and no
# finished.json will come): it no longer keeps the history walk going.
PENDING_GIVE_UP_SECONDS = 48 * 3600
# Deck merges history from these buckets (FORMATS.md §1); a bucket listing has to do the same.
BUCKET_SIBLINGS = {
    "test-platform-results": ("test-platform-results-public",),
    "origin-ci-test": ("test-platform-results", "test-platform-results-public"),
}
# As on deck pages: a folder "0123" is not build 123 (see prow._entry_to_build).
_ID = re.compile(r"0|[1-9][0-9]*")
_GS_URL = re.compile(r"gs://([a-z0-9][a-z0-9._-]*)/(\S+)")


@dataclass(frozen=True)
class Known:
    """What the job's files say before discovery: confirmed builds and given-up failures."""

    tracked: frozenset[int]
    given_up: frozenset[int]


@dataclass
class Frontier:
    """Where a job's history stops mattering: the floor, and what keeps it where it is.

    Invariant: every build with an ID below `floor` is settled (tracked, given up, or
    abandoned while running). Discovery never looks below it; a run that ends moves it up to
    its lowest build still unsettled. Builds finish out of order and runs get killed, so
    "a fully tracked page" alone does not mean that everything older is done: the floor does.
    """

    floor: int = 0
    complete: bool = False  # discovery reached the floor or the end of the history
    newest: int | None = None
    open: set[int] = field(default_factory=set)  # unsettled IDs seen (kept, running, deferred)
    deferred: int = 0

    def saw(self, key: int) -> None:
        if self.newest is None or key > self.newest:
            self.newest = key

    def settle(self, key: int) -> None:
        self.open.discard(key)

    def next_floor(self) -> int:
        """The floor the next run may use, given what is still unsettled now."""
        if self.open:
            value = min(self.open)
        elif self.newest is not None:
            value = self.newest + 1
        else:
            value = self.floor
        # A walk cut short (--max-pages) did not see what lies between it and the old floor.
        return value if self.complete else min(value, self.floor)


def count_skipped(stats: JobStats, skipped: list[SkippedEntry]) -> None:
    for entry in skipped:
        stats.errors.append(f"build {entry.id or '?'}: page entry {entry.reason}")
        stats.failed += 1


def _keep(keep: deque[BuildRef], build: BuildRef, frontier: Frontier) -> None:
    """Queue a candidate; with a limit the deque drops the newest, which stay unsettled."""
    if keep.maxlen is not None and len(keep) == keep.maxlen:
        frontier.deferred += 1  # keep[0] is evicted; it stays in frontier.open
    keep.append(build)
    frontier.open.add(build.key)


async def discover_deck(
    fetch: Callable[[str], Awaitable[HistoryPage]],
    job: JobSpec,
    known: Known,
    stats: JobStats,
    keep: deque[BuildRef],
    frontier: Frontier,
    *,
    max_pages: int | None,
) -> None:
    """Walk back until a settled page below the floor, or until the history ends."""
    now = time.time()
    async for page in walk_history(fetch, job.url.url, max_pages=max_pages):
        stats.pages += 1
        settled = True
        count_skipped(stats, page.skipped)
        for build in page.builds:
            stats.found += 1
            key = build.key
            frontier.saw(key)
            if key < frontier.floor or key in known.tracked:
                continue
            if key in known.given_up:
                continue
            if build.running:
                stats.running += 1
                began = started_epoch(build)
                if began is None or now - began < PENDING_GIVE_UP_SECONDS:
                    settled = False
                    frontier.open.add(key)
                continue
            settled = False
            stats.new += 1
            _keep(keep, build, frontier)
        lowest = min((b.key for b in page.builds), default=None)
        if page.older_url is None or (settled and lowest is not None and lowest < frontier.floor):
            frontier.complete = True
            return


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


async def discover_gcs(
    gcs: GcsReader,
    job: JobSpec,
    known: Known,
    stats: JobStats,
    keep: deque[BuildRef],
    frontier: Frontier,
) -> None:
    """List the job's folder, from the floor up, in every bucket deck merges.

    Whether a listed build is still running is only known once its finished.json is read,
    so every unsettled build is queued; running ones stay open in the frontier.
    """
    prefix = listing_prefix(job)
    presubmit = job.url.presubmit
    found: dict[int, tuple[str, str]] = {}
    start = _offset(prefix, frontier.floor)
    for bucket in (job.url.bucket, *BUCKET_SIBLINGS.get(job.url.bucket, ())):
        async for page in gcs.list_folder(bucket, prefix, start_offset=start):
            stats.pages += 1
            for entry in page.names if presubmit else page.prefixes:
                build_id = build_id_from_listing(prefix, entry, presubmit)
                # Servers may ignore startOffset (and it compares text): filter as numbers.
                if build_id is not None and int(build_id) >= frontier.floor:
                    found.setdefault(int(build_id), (bucket, build_id))
    stats.found = len(found)
    for key in found:
        frontier.saw(key)
    for key in sorted(found, reverse=True):
        if key in known.tracked or key in known.given_up:
            continue
        bucket, build_id = found[key]
        stats.new += 1
        ref = BuildRef(
            id=build_id,
            bucket=bucket,
            path=f"{prefix}{build_id}",
            result="UNKNOWN",
            started="0001-01-01T00:00:00Z",
            indirect=presubmit,
        )
        _keep(keep, ref, frontier)
    frontier.complete = True


def _offset(prefix: str, floor: int) -> str | None:
    # Recent IDs are 19-digit snowflakes (int64: never 20 digits), and text of one width sorts
    # as numbers do; shorter old IDs sort after them as text, so they are still listed.
    return f"{prefix}{floor}" if floor > 0 else None


async def resolve_indirect(gcs: GcsReader, ref: BuildRef) -> BuildRef:
    """A presubmit found in `pr-logs/directory/JOB/` -> the build folder its `ID.txt` names."""
    if not ref.indirect:
        return ref
    body = await gcs.read_text(ref.bucket, f"{ref.path}.txt")
    target = parse_directory_entry(body or "", ref.id)
    if target is None:
        raise BuildError(f"gs://{ref.bucket}/{ref.path}.txt does not name build {ref.id}'s folder")
    return replace(ref, bucket=target[0], path=target[1], indirect=False)
