"""When deck's ProwJob feed may stand in for a job's history page, and the check that earns
it: the feed's silence about a job means "nothing new" only where the feed provably covers it
(docs/discovery.md#the-prowjob-feed). Pure."""

from __future__ import annotations

from crawler.core.builds import started_epoch
from crawler.core.found import FeedTrust, Settled
from crawler.prow.feed import Feed
from crawler.prow.pages import HistoryPage


def why_not_feed(job: str, settled: Settled, feed: Feed) -> str | None:
    """None when the feed alone may tell this run what is new for `job` (no deck page);
    else why its page must be read. Coverage C: every build that started at or after C is
    in the feed (sinker deletes by age), so a job seen whole at or after C that the feed
    does not show again has nothing new."""
    if feed.coverage is None:
        return "the feed proves no coverage window"
    if (reason := why_not_yet(settled)) is not None:
        return reason
    if settled.seen_at is None or settled.seen_at < feed.coverage:
        return "it was last seen before the feed's window"
    return None


def why_not_yet(settled: Settled) -> str | None:
    """The part of why_not_feed the job's files alone decide: None when the feed, once read,
    may stand in for the page (so the job waits for it); else the page is read at once."""
    if settled.feed.blind:
        return f"the feed is blind for this job ({settled.feed.blind})"
    if not settled.feed.checked:
        return "its page was never checked against the feed"
    if settled.fresh or settled.floor == 0:
        return "its whole history is to be read"
    if settled.backlog:
        return "it is catching up (a backlog)"
    if settled.seen_at is None:
        return "it was never seen whole"
    return None


def check_page(job: str, newest: HistoryPage, feed: Feed) -> FeedTrust | None:
    """Hold the job's newest page against the feed: every finished build on it that started
    inside the feed's window must be in the feed. A miss makes the feed blind for the job (a
    hidden job, another tenant's, a deck that merges other history). `checked` needs the job
    in the feed as well: a hidden job is absent from it, however idle. None: nothing shown."""
    if feed.coverage is None:
        return None
    builds = feed.builds(job)
    listed = {b.build_id for b in builds}
    # A build that started after the feed was read cannot be in it: no evidence either way.
    for build in newest.builds:
        started = started_epoch(build)
        if build.running or started is None or not feed.coverage <= started <= feed.newest_start:
            continue
        if build.id not in listed:
            return FeedTrust(
                blind=f"build {build.id}, started {build.started}, is on deck's page but not "
                "in the feed"
            )
    return FeedTrust(checked=True) if builds else None


def merge_trust(saved: FeedTrust, verdict: FeedTrust | None) -> FeedTrust:
    """Blind stays blind (the job is read page by page from then on); otherwise the newest
    verdict counts, and no verdict keeps what was known."""
    if saved.blind or verdict is None:
        return saved
    return verdict
