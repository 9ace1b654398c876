"""Discovery against a fake deck and a fake GCS: the floor, the limit, the horizon, and when
a listing may stand in for deck's pages."""

from __future__ import annotations

import time

import pytest

from crawler.core.found import Settled
from crawler.core.horizon import Horizon
from crawler.prow.discovery import (
    AUTO_LIST_BACKLOG,
    Plan,
    build_id_from_listing,
    choose_mode,
    discover,
    parse_directory_entry,
)
from crawler.prow.pages import HistoryPage, PageError
from tests.unit.factories import BUCKET, FakeDeck, FakeGcs, job_spec, snowflake_at

NOW = 1_785_000_000.0  # 2026-07-25
DAY = 86400
PUBLIC = "test-platform-results-public"


def ids_over(days: float, n: int, *, end: float = NOW) -> list[int]:
    """n snowflake IDs spread evenly over the `days` before `end`, oldest first."""
    step = days * DAY / n
    return [snowflake_at(end - days * DAY + i * step) for i in range(n)]


async def run(
    deck: FakeDeck,
    *,
    gcs: FakeGcs | None = None,
    settled: Settled | None = None,
    **plan: object,
):
    plan.setdefault("now", NOW)
    plan.setdefault("mode", "deck")
    return await discover(deck, gcs or FakeGcs(), deck.job, settled or Settled(), Plan(**plan))


# -- the deck walk and the floor ------------------------------------------------------------------


async def test_gap_below_a_fully_tracked_page_is_found_thanks_to_the_floor():
    ids = ids_over(10, 100)
    gap = ids[30]  # a build whose upload failed while newer ones succeeded
    tracked = frozenset(ids) - {gap}
    deck = FakeDeck(ids)
    found = await run(deck, settled=Settled(tracked=tracked, floor=gap))
    assert [b.key for b in found.candidates] == [gap]
    assert found.complete and found.unsettled == {gap}
    # A fully tracked job stops after one page once its floor is above everything.
    deck = FakeDeck(ids)
    found = await run(deck, settled=Settled(tracked=frozenset(ids), floor=max(ids) + 1))
    assert found.candidates == [] and len(deck.fetched) == 1 and found.complete


async def test_without_a_floor_the_whole_history_is_walked():
    ids = ids_over(10, 74)
    deck = FakeDeck(ids)
    found = await run(deck, settled=Settled(tracked=frozenset(ids) - {ids[3]}))
    assert [b.key for b in found.candidates] == [ids[3]]
    assert len(deck.fetched) == 4 and found.complete and found.pages == 4


async def test_limit_keeps_the_oldest_and_the_rest_stay_unsettled():
    ids = ids_over(10, 60)
    found = await run(FakeDeck(ids), limit=5)
    assert [b.key for b in found.candidates] == ids[:5]  # oldest first
    assert found.new == 60 and found.deferred == 55
    assert found.unsettled == set(ids)


async def test_recent_running_build_stays_unsettled_and_an_abandoned_one_does_not():
    ids = ids_over(10, 40)
    recent, old = ids[-1], ids[0]  # started an hour ago / ten days ago, still PENDING
    deck = FakeDeck(ids, running=frozenset({recent, old}))
    found = await run(deck, settled=Settled(tracked=frozenset(ids) - {recent, old}))
    assert found.candidates == [] and found.running == 2
    assert found.unsettled == found.running_ids == {recent}


async def test_a_walk_that_breaks_off_keeps_what_it_found_but_is_not_complete():
    ids = ids_over(10, 70)
    deck = FakeDeck(ids)
    inner = deck.page

    async def flaky(url: str) -> HistoryPage:
        if len(deck.fetched) == 2:
            deck.fetched.append(url)
            raise PageError("allBuilds is not valid JSON")
        return await inner(url)

    deck.page = flaky  # type: ignore[method-assign]
    found = await run(deck)
    assert len(found.candidates) == 40  # the two pages read
    assert not found.complete and "allBuilds" in (found.error or "")


async def test_an_unreadable_newest_page_fails_the_job():
    deck = FakeDeck(ids_over(1, 5))

    async def broken(url: str) -> HistoryPage:
        raise PageError("no 'var allBuilds = ' in the page")

    deck.page = broken  # type: ignore[method-assign]
    with pytest.raises(PageError):
        await run(deck, mode="gcs")


# -- the horizon ----------------------------------------------------------------------------------


async def test_horizon_inside_a_page_stops_the_walk_and_leaves_older_builds_alone():
    ids = ids_over(4, 96)  # one every hour for 4 days: 5 pages
    deck = FakeDeck(ids)
    horizon = Horizon(at=NOW - 2 * DAY, text="2d")
    found = await run(deck, horizon=horizon)
    after = [i for i in ids if i >= horizon.first_id]
    assert 40 < len(after) < 60 and len(after) % 20  # the boundary lies inside a page
    assert sorted(b.key for b in found.candidates) == after
    assert found.new == found.found == len(after)
    assert len(deck.fetched) == (len(after) // 20) + 1 and found.complete


async def test_small_ids_are_judged_by_their_started_time():
    snow = ids_over(1, 5)
    small = [16, 17, 18]  # 2018-03-01 by the fake deck
    deck = FakeDeck(snow + small)
    early = await run(deck, horizon=Horizon(at=1_500_000_000, text="2017-07-14"))
    assert {b.key for b in early.candidates} == set(snow + small)
    late = await run(FakeDeck(snow + small), horizon=Horizon(at=1_600_000_000, text="2020"))
    assert {b.key for b in late.candidates} == set(snow)


async def test_listing_starts_at_the_horizon_and_reads_small_ids_start_times():
    ids = ids_over(4, 40)
    horizon = Horizon(at=NOW - 2 * DAY, text="2d")
    gcs = FakeGcs(
        listed={BUCKET: [*ids, 15, 16, 17]},
        objects={
            (BUCKET, "logs/j/15/started.json"): {"timestamp": 1_519_898_400},  # 2018
            (BUCKET, "logs/j/17/started.json"): {"timestamp": int(NOW - DAY)},
        },
        honour_offset=False,  # so that the small IDs come back at all
    )
    found = await run(FakeDeck(ids), gcs=gcs, mode="gcs", horizon=horizon)
    assert found.via == "gcs"
    assert gcs.listings[0] == (BUCKET, f"logs/j/{horizon.first_id}")
    after = {i for i in ids if i >= horizon.first_id}
    # 15 started in 2018 (left out); 16 has no started.json (unknown: kept); 17 is recent.
    assert {b.key for b in found.candidates} == after | {16, 17}
    assert f"{BUCKET}/logs/j/16/started.json" in gcs.reads
    # Snowflakes tell their own time: only the small IDs cost a read.
    assert sorted(r.split("/")[-2] for r in gcs.reads) == ["15", "16", "17"]


# -- listings: an accelerator that must agree with deck -------------------------------------------


async def test_listing_merges_the_newest_page_and_lists_the_buckets_it_names():
    ids = ids_over(5, 50)
    moved = "ci-results-2026"
    newest = ids[-10:]
    deck = FakeDeck(ids, running=frozenset({ids[-1]}), buckets=dict.fromkeys(newest, moved))
    gcs = FakeGcs(listed={moved: newest, BUCKET: ids[:-10]})
    found = await run(deck, gcs=gcs, mode="gcs")
    assert [b for b, _ in gcs.listings] == [moved, BUCKET, PUBLIC]
    assert found.via == "gcs" and found.listing is not None and found.listing.trusted
    assert [b.key for b in found.candidates] == ids[:-1]
    # What the page showed comes from the page: the real folder, not an index entry.
    by_id = {b.key: b for b in found.candidates}
    assert by_id[ids[-2]].bucket == moved and not by_id[ids[-2]].indirect
    assert found.running_ids == {ids[-1]} and len(deck.fetched) == 1


async def test_listing_that_misses_a_finished_build_on_the_newest_page_is_not_trusted():
    ids = ids_over(5, 50)
    gcs = FakeGcs(listed={BUCKET: ids[:30]})  # the newest builds are somewhere else
    deck = FakeDeck(ids)
    found = await run(deck, gcs=gcs, mode="auto")
    assert found.via == "deck" and found.listing is not None and not found.listing.trusted
    assert "not trusted" in found.notes[0] and "walking deck" in found.notes[0]
    assert sorted(b.key for b in found.candidates) == ids
    assert len(deck.fetched) == 3


async def test_listing_refused_falls_back_to_deck():
    ids = ids_over(5, 30)
    gcs = FakeGcs(listed={BUCKET: ids}, refuse=frozenset({BUCKET}))
    found = await run(FakeDeck(ids), gcs=gcs, mode="gcs")
    assert found.via == "deck" and len(found.candidates) == 30
    assert found.listing is not None and found.listing.buckets == (BUCKET, PUBLIC)
    assert "refused" in found.notes[0] and "HTTP 401" in found.notes[0]


async def test_an_empty_listing_of_an_empty_job_is_trusted():
    found = await run(FakeDeck([]), mode="gcs")
    assert found.via == "gcs" and found.candidates == [] and found.complete


async def test_start_offset_only_for_snowflake_wide_bounds():
    ids = [16, 17, 18, 19]
    gcs = FakeGcs(listed={BUCKET: ids})
    found = await run(FakeDeck(ids), gcs=gcs, mode="gcs", settled=Settled(floor=17))
    assert gcs.listings[0] == (BUCKET, None)  # "17" as text would skip "2..." and keep "9"
    assert [b.key for b in found.candidates] == [17, 18, 19]


@pytest.mark.parametrize(
    ("mode", "settled", "max_pages", "expected"),
    [
        ("deck", Settled(), None, "deck"),
        ("gcs", Settled(floor=10), None, "gcs"),
        ("gcs", Settled(), 3, "gcs"),
        ("auto", Settled(), None, "gcs"),
        ("auto", Settled(), 2, "deck"),
        ("auto", Settled(floor=10), None, "deck"),
        ("auto", Settled(floor=10, backlog=AUTO_LIST_BACKLOG + 1), None, "gcs"),
        ("auto", Settled(distrusted=(BUCKET, PUBLIC)), None, "deck"),
        ("gcs", Settled(distrusted=(BUCKET, PUBLIC)), None, "deck"),
        ("auto", Settled(distrusted=(BUCKET,)), None, "gcs"),  # a new bucket: try again
    ],
)
def test_choose_mode(mode, settled, max_pages, expected):
    plan = Plan(mode=mode, max_pages=max_pages, now=time.time())
    assert choose_mode(plan, settled, (BUCKET, PUBLIC)) == expected


async def test_auto_lists_when_the_newest_page_does_not_reach_the_floor():
    """An hourly run that finds more new builds than deck's newest page shows lists the
    bucket (no rate limit) instead of walking a second, rate-limited page."""
    ids = ids_over(2, 60)
    old, new = ids[:30], ids[30:]  # 30 new builds: a page and a half
    settled = Settled(tracked=frozenset(old), floor=new[0])
    deck, gcs = FakeDeck(ids), FakeGcs(listed={BUCKET: ids})
    found = await run(deck, gcs=gcs, settled=settled, mode="auto")
    assert found.via == "gcs" and len(deck.fetched) == 1 and gcs.listings
    assert [b.key for b in found.candidates] == new
    # A newest page that reaches the floor needs no more pages: deck, no listing.
    settled = Settled(tracked=frozenset(ids[:50]), floor=ids[50])
    deck, gcs = FakeDeck(ids), FakeGcs(listed={BUCKET: ids})
    found = await run(deck, gcs=gcs, settled=settled, mode="auto")
    assert found.via == "deck" and len(deck.fetched) == 1 and not gcs.listings
    assert [b.key for b in found.candidates] == ids[50:]
    # --discovery deck keeps walking pages whatever they show.
    deck = FakeDeck(ids)
    found = await run(deck, settled=Settled(tracked=frozenset(old), floor=new[0]), mode="deck")
    assert found.via == "deck" and len(deck.fetched) == 2


# -- listing entries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "presubmit", "expected"),
    [
        ("logs/j/123/", False, "123"),
        ("logs/j/latest-build.txt", False, None),
        ("pr-logs/directory/j/77.txt", True, "77"),
        ("pr-logs/directory/j/latest-build.txt", True, None),
        ("logs/j/0123/", False, None),
    ],
)
def test_build_ids_from_listing(entry, presubmit, expected):
    prefix = "pr-logs/directory/j/" if presubmit else "logs/j/"
    assert build_id_from_listing(prefix, entry, presubmit) == expected


def test_directory_entry_must_name_the_build():
    assert parse_directory_entry("gs://b/pr-logs/pull/o_r/1/j/77\n", "77") == (
        "b",
        "pr-logs/pull/o_r/1/j/77",
    )
    assert parse_directory_entry("gs://b/pr-logs/pull/o_r/1/j/78", "77") is None
    assert parse_directory_entry("gs://b/pr-logs/../../etc/77", "77") is None
    assert parse_directory_entry("https://evil/77", "77") is None


def test_job_spec_factory_is_a_periodic_by_default():
    assert not job_spec().url.presubmit and job_spec(presubmit=True).url.presubmit
