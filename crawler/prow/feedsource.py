"""A job's new builds from deck's ProwJob feed alone, for a job the feed covers (see
feedtrust): no deck page; a build that was running at the last run and has left the feed is
looked up in GCS directly (its finished.json), never through deck."""

from __future__ import annotations

from typing import Protocol

from crawler.core.builds import BuildRef, started_epoch
from crawler.core.found import Found, Settled
from crawler.core.jobs import JobSpec
from crawler.prow.feed import Feed


def from_feed(job: JobSpec, settled: Settled, feed: Feed, offer: _Offer) -> None:
    """Every build of the job the feed lists, and the running builds the job's files know
    that it no longer lists, offered newest first (as a page walk would) to `offer`."""
    listed = {b.key: b.build_ref() for b in feed.builds(job.url.job)}
    for ref in settled.running:
        if ref.key not in listed:
            # Result unknown: the download decides (finished.json there or not yet).
            listed[ref.key] = BuildRef(
                id=ref.id, bucket=ref.bucket, path=ref.path, result="UNKNOWN", started=ref.started
            )
    found = offer.found
    found.via, found.complete = "feed", True
    for key in sorted(listed, reverse=True):
        ref = listed[key]
        started = started_epoch(ref)
        if not offer.before_horizon(ref, started):
            offer.offer(ref, started)


class _Offer(Protocol):
    """What from_feed needs of discovery's collector (prow.discovery._Collector)."""

    found: Found

    def before_horizon(self, build: BuildRef, started: int | None) -> bool: ...
    def offer(self, build: BuildRef, started: int | None) -> None: ...
