"""Finding a job's new builds: by walking deck's history pages, or by listing the GCS bucket.

Both fill `keep` with the untracked builds to process, in the order the pipeline consumes
them (newest first, so that with a bounded deque the oldest `limit` ones survive).
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

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
_ID = re.compile(r"[0-9]+")
_GS_URL = re.compile(r"gs://([a-z0-9][a-z0-9._-]*)/(\S+)")


@dataclass(frozen=True)
class Known:
    """What the job's files say before discovery: confirmed builds and given-up failures."""

    tracked: frozenset[int]
    given_up: frozenset[int]


def count_skipped(stats: JobStats, skipped: list[SkippedEntry]) -> None:
    for entry in skipped:
        stats.errors.append(f"build {entry.id or '?'}: page entry {entry.reason}")
        stats.failed += 1


async def discover_deck(
    fetch: Callable[[str], Awaitable[HistoryPage]],
    job: JobSpec,
    known: Known,
    stats: JobStats,
    keep: deque[BuildRef],
    *,
    max_pages: int | None,
) -> None:
    """Walk back until a page where every finished build is settled (tracked or given up)
    and no recent build is still running, or until the history ends."""
    now = time.time()
    async for page in walk_history(fetch, job.url.url, max_pages=max_pages):
        stats.pages += 1
        settled = True
        count_skipped(stats, page.skipped)
        for build in page.builds:
            stats.found += 1
            if build.key in known.tracked:
                continue
            if build.key in known.given_up:
                stats.given_up += 1
                continue
            if build.running:
                stats.running += 1
                began = started_epoch(build)
                if began is None or now - began < PENDING_GIVE_UP_SECONDS:
                    settled = False
                continue
            settled = False
            stats.new += 1
            keep.append(build)
        if settled:
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
    *,
    floor: int | None,
) -> int:
    """List the job's folder in every bucket deck merges; queue untracked builds.

    Builds below `floor` were all settled by an earlier listing and are skipped unread
    (startOffset). Returns the new floor: the lowest ID still unsettled after this listing
    (deferred, running or to be processed), or one past the newest build if none is.
    """
    prefix = listing_prefix(job)
    presubmit = job.url.presubmit
    found: dict[int, tuple[str, str]] = {}
    for bucket in (job.url.bucket, *BUCKET_SIBLINGS.get(job.url.bucket, ())):
        async for page in gcs.list_folder(bucket, prefix, start_offset=_offset(prefix, floor)):
            stats.pages += 1
            for entry in page.names if presubmit else page.prefixes:
                build_id = build_id_from_listing(prefix, entry, presubmit)
                if build_id is not None and (floor is None or int(build_id) >= floor):
                    found.setdefault(int(build_id), (bucket, build_id))
    stats.found = len(found)
    unsettled = sorted(
        (key for key in found if key not in known.tracked and key not in known.given_up),
        reverse=True,
    )
    stats.given_up = sum(1 for key in found if key in known.given_up)
    for key in unsettled:
        bucket, build_id = found[key]
        keep.append(
            BuildRef(
                id=build_id,
                bucket=bucket,
                path=f"{prefix}{build_id}",
                result="UNKNOWN",
                started="0001-01-01T00:00:00Z",
                indirect=presubmit,
            )
        )
    stats.new = len(unsettled)
    if unsettled:
        return unsettled[-1]
    return max(found) + 1 if found else (floor or 0)


def _offset(prefix: str, floor: int | None) -> str | None:
    # IDs are 19-digit snowflakes (int64, so never 20 digits); same width sorts as numbers.
    return f"{prefix}{floor}" if floor else None


async def resolve_indirect(gcs: GcsReader, ref: BuildRef) -> BuildRef:
    """A presubmit found in `pr-logs/directory/JOB/` -> the build folder its `ID.txt` names."""
    if not ref.indirect:
        return ref
    body = await gcs.read_text(ref.bucket, f"{ref.path}.txt")
    target = parse_directory_entry(body or "", ref.id)
    if target is None:
        raise BuildError(f"gs://{ref.bucket}/{ref.path}.txt does not name build {ref.id}'s folder")
    return replace(ref, bucket=target[0], path=target[1], indirect=False)
