"""Discovery with deck's ProwJob feed: when the feed alone may tell what is new (coverage, a
page checked against it, seen since its window), the running build that left the feed, and
the trust check that makes a feed blind for a job (crawler.prow.feedtrust, feedsource)."""

from __future__ import annotations

from dataclasses import replace

from crawler.core.builds import BuildRef
from crawler.core.found import FeedTrust, Settled
from crawler.prow.discovery import Plan, discover
from crawler.prow.feed import Feed, feed_coverage
from crawler.prow.feed_items import FeedBuild
from crawler.prow.feedtrust import check_page, merge_trust, why_not_feed
from tests.unit.factories import BUCKET, FakeDeck, FakeGcs, job_spec, snowflake_at

NOW = 1_785_000_000.0
HOUR = 3600.0
JOB = "j"


def feed_build(build_id: int, *, job: str = JOB, state: str = "success", kind: str = "postsubmit"):
    started = ((build_id >> 22) + 1288834974657) / 1000
    done = state not in ("pending", "triggered")
    return FeedBuild(
        job=job,
        type=kind,
        state=state,
        build_id=str(build_id),
        started=started,
        completed=started + 600 if done else None,
        bucket=BUCKET,
        path=f"logs/{job}/{build_id}",
    )


def make_feed(*builds: FeedBuild) -> Feed:
    jobs: dict[str, list[FeedBuild]] = {}
    for b in builds:
        jobs.setdefault(b.job, []).append(b)
    ordered = {
        j: tuple(sorted(bs, key=lambda b: b.started, reverse=True)) for j, bs in jobs.items()
    }
    return Feed(ordered, feed_coverage(builds), items=len(builds), skipped=0, waiting=0)


def ids_in_last(hours: float, n: int) -> list[int]:
    return [snowflake_at(NOW - hours * HOUR + i * hours * HOUR / n) for i in range(n)]


def trusted(tracked: list[int], **kw: object) -> Settled:
    """A job seen whole an hour ago, its page checked against the feed before."""
    values: dict = dict(
        tracked=frozenset(tracked),
        floor=max(tracked) + 1,
        seen_at=NOW - HOUR,
        feed=FeedTrust(checked=True),
    )
    values.update(kw)
    return Settled(**values)


async def run(deck: FakeDeck, settled: Settled, feed: Feed | None, gcs: FakeGcs | None = None):
    plan = Plan(mode="auto", now=NOW)
    return await discover(deck, gcs or FakeGcs(), deck.job, settled, plan, feed)


# -- the feed alone -------------------------------------------------------------------------------


async def test_a_covered_job_needs_no_deck_page_and_its_new_builds_come_from_the_feed():
    ids = ids_in_last(20, 10)
    old, new = ids[:7], ids[7:]
    feed = make_feed(*(feed_build(i) for i in ids))
    deck = FakeDeck(ids)
    found = await run(deck, trusted(old), feed)
    assert deck.fetched == []
    assert [b.key for b in found.candidates] == new  # oldest first
    assert found.via == "feed" and found.complete


async def test_nothing_new_in_the_feed_means_nothing_new_and_no_request():
    ids = ids_in_last(20, 10)
    feed = make_feed(*(feed_build(i) for i in ids))
    deck = FakeDeck(ids)
    found = await run(deck, trusted(ids), feed)
    assert deck.fetched == [] and found.candidates == [] and found.complete


async def test_a_job_seen_before_the_feeds_window_reads_its_page():
    ids = ids_in_last(20, 10)
    feed = make_feed(*(feed_build(i) for i in ids))
    deck = FakeDeck(ids)
    settled = trusted(ids[:5], seen_at=feed.coverage - 1)
    assert why_not_feed(JOB, settled, feed) == "it was last seen before the feed's window"
    found = await run(deck, settled, feed)
    assert len(deck.fetched) >= 1 and found.via != "feed"
    assert {b.key for b in found.candidates} == set(ids[5:])


async def test_a_job_seen_after_the_window_starts_does_not():
    ids = ids_in_last(20, 10)
    feed = make_feed(*(feed_build(i) for i in ids))
    assert why_not_feed(JOB, trusted(ids, seen_at=feed.coverage + 1), feed) is None


def test_every_other_job_takes_the_page():
    ids = ids_in_last(20, 10)
    feed = make_feed(*(feed_build(i) for i in ids))
    base = trusted(ids)
    cases = {
        "its page was never checked against the feed": replace(base, feed=FeedTrust()),
        "the feed is blind": replace(base, feed=FeedTrust(checked=True, blind="x")),
        "its whole history is to be read": replace(base, fresh=True),
        "catching up": replace(base, backlog=3),
        "first run": Settled(),
    }
    for why, settled in cases.items():
        reason = why_not_feed(JOB, settled, feed)
        assert reason is not None, why
    no_window = make_feed(feed_build(ids[-1], kind="periodic"))  # the newest periodic: kept
    assert why_not_feed(JOB, base, no_window) == "the feed proves no coverage window"


async def test_a_running_build_that_left_the_feed_is_looked_up_in_gcs_not_deck():
    ids = ids_in_last(20, 10)
    gone = ids[5]
    feed = make_feed(*(feed_build(i) for i in ids if i != gone))
    tracked = [i for i in ids if i != gone]
    ref = BuildRef(
        id=str(gone), bucket=BUCKET, path=f"logs/{JOB}/{gone}", result="PENDING", started="x"
    )
    deck = FakeDeck(ids)
    found = await run(deck, trusted(tracked, floor=gone, running=(ref,)), feed)
    assert deck.fetched == []
    assert [(b.key, b.path, b.running) for b in found.candidates] == [(gone, ref.path, False)]


async def test_builds_the_feed_shows_running_are_neither_read_nor_tracked():
    ids = ids_in_last(20, 10)
    feed = make_feed(*(feed_build(i) for i in ids[:-1]), feed_build(ids[-1], state="pending"))
    found = await run(FakeDeck(ids), trusted(ids[:-1]), feed)
    assert found.candidates == [] and found.running_ids == {ids[-1]}
    assert [r.key for r in found.running_refs] == [ids[-1]]


# -- the trust check ------------------------------------------------------------------------------


async def test_a_page_whose_builds_are_all_in_the_feed_checks_the_job():
    ids = ids_in_last(20, 10)
    feed = make_feed(*(feed_build(i) for i in ids))
    found = await run(FakeDeck(ids), Settled(), feed)
    assert found.feed == FeedTrust(checked=True)


async def test_a_build_on_the_page_missing_from_the_feed_makes_it_blind_for_good():
    ids = ids_in_last(20, 10)
    hidden = ids[6]
    feed = make_feed(*(feed_build(i) for i in ids if i != hidden), feed_build(ids[0], job="other"))
    found = await run(FakeDeck(ids), Settled(), feed)
    assert found.feed is not None and str(hidden) in found.feed.blind
    assert any("blind" in n for n in found.notes)
    # Later runs never trust it again, however the feed looks.
    later = merge_trust(found.feed, FeedTrust(checked=True))
    assert later.blind and why_not_feed(JOB, trusted(ids, feed=later), feed) is not None


async def test_a_job_absent_from_the_feed_is_never_checked_a_hidden_job_looks_the_same():
    feed = make_feed(*(feed_build(i, job="other") for i in ids_in_last(20, 5)))
    old = ids_in_last(400, 3)  # all before the feed's window: nothing to compare
    page = await FakeDeck(old).page(job_spec().url.url)
    assert check_page(JOB, page, feed) is None
    found = await run(FakeDeck(old), Settled(), feed)
    assert found.feed == FeedTrust()  # the saved (default) trust: not checked


async def test_without_a_feed_nothing_changes():
    ids = ids_in_last(20, 10)
    deck = FakeDeck(ids)
    found = await run(deck, trusted(ids[:5]), None)
    assert deck.fetched and found.feed is None
    assert {b.key for b in found.candidates} == set(ids[5:])


# -- the feed on its way ----------------------------------------------------------------------


class Arriving:
    """A feed still being read: records whether the page came before it was awaited."""

    def __init__(self, feed: Feed, deck: FakeDeck) -> None:
        self.feed, self.deck = feed, deck
        self.pages_before: list[int] = []

    async def __call__(self) -> Feed:
        self.pages_before.append(len(self.deck.fetched))
        return self.feed


async def test_a_job_the_feed_cannot_cover_reads_its_page_without_waiting_for_it():
    ids = ids_in_last(20, 10)
    deck = FakeDeck(ids)
    source = Arriving(make_feed(*(feed_build(i) for i in ids)), deck)
    found = await run(deck, Settled(), source)  # never checked: the page is read anyway
    assert source.pages_before == [1]  # the feed was only needed for the check, after it
    assert found.feed == FeedTrust(checked=True)


async def test_a_job_the_feed_may_cover_waits_for_it_and_reads_no_page():
    ids = ids_in_last(20, 10)
    deck = FakeDeck(ids)
    source = Arriving(make_feed(*(feed_build(i) for i in ids)), deck)
    found = await run(deck, trusted(ids), source)
    assert source.pages_before == [0] and deck.fetched == [] and found.via == "feed"
