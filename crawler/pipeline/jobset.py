"""The jobs of a run, decided at its start: deck's ProwJob feed read once per deck host, the
`match:` items expanded against it (and the jobs they matched before), --job and --shard
applied. Used by `run` and `crawl` (through the pipeline) and by `prow-crawler jobs`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from crawler.core.errors import DiskFault
from crawler.core.jobs import Config, RunOptions
from crawler.prow.deck import DeckClient, FeedUnavailable
from crawler.prow.discovery import FeedSource
from crawler.prow.feed import Feed
from crawler.settings.patterns import newest_builds, resolve_jobs
from crawler.state.matchstore import MatchStoreError, load_matches, save_matches


@dataclass
class JobSet:
    """`config.jobs`: every job this run covers; `feeds`: deck base -> its feed (readable
    ones only); `problems` fail the run (exit 1) while the other jobs still run; `notes` are
    told once; `origins`: job -> the item it came from (`url` or `match "..."`)."""

    config: Config
    feeds: dict[str, Feed] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)
    # The feeds still being read (no match items to expand first): jobs await what they need.
    pending: asyncio.Task[dict[str, Feed]] | None = None

    def feed_for(self, base: str) -> FeedSource | None:
        """The feed a job of deck `base` is discovered with, once read (None: page by page)."""
        if not self.config.feed:
            return None
        pending = self.pending

        async def feed() -> Feed | None:
            if pending is not None:
                # Shielded: a job that is cancelled must not cancel every other job's read.
                self.feeds = await asyncio.shield(pending)
            return self.feeds.get(base)

        return feed

    async def close(self) -> None:
        """Stop a feed read a stopped run no longer needs."""
        if self.pending is not None and not self.pending.done():
            self.pending.cancel()
            await asyncio.gather(self.pending, return_exceptions=True)


async def read_feeds(deck: DeckClient, bases: list[str]) -> tuple[dict[str, Feed], list[str]]:
    """One feed request per deck host, at once; an unreadable feed is a note, not a failure:
    its jobs are read page by page, as without a feed."""

    async def one(base: str) -> Feed | str:
        try:
            return await deck.feed(base)
        except FeedUnavailable as exc:
            return f"feed: {base} unavailable ({exc.reason}): reading job pages instead"

    results = await asyncio.gather(*(one(b) for b in bases))
    feeds: dict[str, Feed] = {}
    notes: list[str] = []
    for base, result in zip(bases, results, strict=True):
        if isinstance(result, str):
            notes.append(result)
            continue
        feeds[base] = result
        if result.skipped:
            why = ", ".join(f"{n} {reason}" for reason, n in sorted(result.reasons.items()))
            notes.append(f"feed: {base}: skipped {result.skipped} of {result.items} items ({why})")
    return feeds, notes


async def resolve(
    deck: DeckClient,
    config: Config,
    options: RunOptions,
    report: Callable[[str], None] | None = None,
) -> JobSet:
    """Read the feeds this run needs and expand the match items (see JobSet). With `report`
    and no match items the feeds are read in the background, their notes told to `report`:
    jobs the feed cannot cover read their pages meanwhile."""
    bases = sorted({j.url.base for j in config.jobs} | ({config.prow} if config.matches else set()))
    if report is not None and options.feed and not config.matches:

        async def background() -> dict[str, Feed]:
            feeds, notes = await read_feeds(deck, bases)
            for note in notes:
                report(note)
            return feeds

        origins = {j.name: "url" for j in config.jobs}
        return JobSet(config, origins=origins, pending=asyncio.create_task(background()))
    feeds, notes = await read_feeds(deck, bases) if options.feed else ({}, [])
    jobset = JobSet(config, feeds, notes=notes, origins={j.name: "url" for j in config.jobs})
    if not config.matches:
        return jobset
    try:
        remembered = load_matches(options.tracker_dir)
    except MatchStoreError as exc:
        jobset.problems.append(str(exc))
        remembered = {}
    prow_feed = feeds.get(config.prow)
    resolved = resolve_jobs(
        config, newest_builds(prow_feed.jobs) if prow_feed else None, remembered
    )
    jobset.config, jobset.origins = resolved.config, resolved.origins
    jobset.problems += resolved.problems
    if not options.dry_run:
        try:
            save_matches(options.tracker_dir, resolved.remembered)
        except (MatchStoreError, DiskFault) as exc:
            jobset.problems.append(f"cannot remember the matched jobs: {exc}")
    return jobset
