"""The start of one job's life in a run: its files opened under its lock, then discovery, each
outcome told to the reporter."""

from __future__ import annotations

from crawler.core.builds import BuildRef
from crawler.core.errors import CrawlerError, DiskFault
from crawler.core.jobs import RunOptions
from crawler.output.report import Reporter
from crawler.prow.deck import DeckClient
from crawler.prow.discovery import FeedSource, Plan, discover
from crawler.prow.gcs import GcsReader
from crawler.prow.pages import PageError
from crawler.state.ledger import JobLedger
from crawler.state.tracker import JobLocked


async def find_builds(
    ledger: JobLedger,
    deck: DeckClient,
    gcs: GcsReader,
    options: RunOptions,
    report: Reporter,
    now: float,
    feed: FeedSource | None = None,
) -> tuple[list[BuildRef], DiskFault | None]:
    """The job's builds to process, oldest first (none if it is locked or fails), and the
    disk fault that opening its files met, if any (the caller stops the run for it)."""
    spec = ledger.spec
    horizon = spec.since.resolve(now) if spec.since is not None else None
    try:
        settled = await ledger.open(lock_wait=options.lock_wait, horizon=horizon)
    except JobLocked as exc:
        ledger.counts.status = "locked"
        if options.lock_wait:
            # Asked to wait and still locked: this run did not do what it was asked to.
            ledger.fail_job(str(exc))
        report.job_skipped(ledger.counts, str(exc))
        return [], None
    except (CrawlerError, OSError) as exc:
        ledger.fail_job(str(exc))
        report.job_failed(ledger.counts, str(exc))
        return [], exc if isinstance(exc, DiskFault) else None
    if ledger.repaired:
        report.job_note(ledger.counts, "repaired", ledger.repaired)
    plan = Plan(spec.discovery, spec.limit, options.max_pages, horizon, now)
    try:
        found = await discover(deck, gcs, spec, settled, plan, feed)
    except (CrawlerError, PageError, OSError) as exc:
        ledger.fail_job(f"job history: {exc}")
        report.job_failed(ledger.counts, f"job history: {exc}")
        return [], None
    for note in found.notes:
        report.job_note(ledger.counts, "discovery", note)
    candidates = ledger.begin(found)
    if found.error is not None:
        report.job_failed(ledger.counts, found.error)
    report.job_discovered(ledger.counts)
    return candidates, None
