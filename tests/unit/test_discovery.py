"""Discovery against a fake deck: the floor keeps a walk going past fully tracked pages."""

from __future__ import annotations

from collections import deque

import pytest

from crawler.config import JobSpec
from crawler.discovery import (
    Frontier,
    Known,
    build_id_from_listing,
    discover_deck,
    parse_directory_entry,
)
from crawler.prow import BuildRef, HistoryPage, PageError, parse_job_url
from crawler.report import JobStats

JOB = JobSpec(name="j", url=parse_job_url("http://deck/job-history/gs/b/logs/j"))


def fake_deck(ids: list[int], running: frozenset[int] = frozenset()):
    """Pages of 20, newest first, like deck; records which pages were fetched."""
    ids = sorted(ids, reverse=True)
    fetched: list[str] = []

    async def fetch(url: str) -> HistoryPage:
        fetched.append(url)
        start = int(url.split("buildId=")[1]) if "buildId=" in url else ids[0]
        page = [i for i in ids if i <= start][:20]
        rest = [i for i in ids if i < page[-1]]
        builds = [
            BuildRef(
                id=str(i),
                bucket="b",
                path=f"logs/j/{i}",
                result="PENDING" if i in running else "SUCCESS",
                started="2999-01-01T00:00:00Z",
            )
            for i in page
        ]
        older = f"{JOB.url.url}?buildId={rest[0]}" if rest else None
        return HistoryPage(builds=builds, skipped=[], older_url=older)

    return fetch, fetched


async def walk(fetch, tracked: set[int], floor: int, limit: int | None = None):
    keep: deque[BuildRef] = deque(maxlen=limit)
    frontier = Frontier(floor=floor)
    stats = JobStats(name="j")
    await discover_deck(
        fetch, JOB, Known(frozenset(tracked), frozenset()), stats, keep, frontier, max_pages=None
    )
    return [b.key for b in keep], frontier, stats


async def test_gap_below_a_fully_tracked_page_is_found_thanks_to_the_floor():
    ids = list(range(1000, 1100))
    gap = 1030  # a build whose upload failed while newer ones succeeded
    tracked = set(ids) - {gap}
    fetch, fetched = fake_deck(ids)
    found, frontier, _ = await walk(fetch, tracked, floor=gap)
    assert found == [gap]
    assert frontier.complete and frontier.next_floor() == gap  # until it is settled
    frontier.settle(gap)
    assert frontier.next_floor() == max(ids) + 1
    # A fully tracked job stops after one page once its floor is above everything.
    fetch, fetched = fake_deck(ids)
    found, frontier, _ = await walk(fetch, set(ids), floor=max(ids) + 1)
    assert found == [] and len(fetched) == 1


async def test_without_a_floor_the_whole_history_is_walked():
    ids = list(range(1, 75))
    fetch, fetched = fake_deck(ids)
    found, frontier, _ = await walk(fetch, set(ids) - {3}, floor=0)
    assert found == [3] and len(fetched) == 4 and frontier.complete


async def test_limit_keeps_the_oldest_and_the_floor_stays_at_the_oldest_unsettled():
    ids = list(range(500, 560))
    fetch, _ = fake_deck(ids)
    found, frontier, _ = await walk(fetch, set(), floor=0, limit=5)
    assert sorted(found) == [500, 501, 502, 503, 504]
    for key in found:
        frontier.settle(key)
    assert frontier.next_floor() == 505  # the deferred builds keep it down
    assert frontier.deferred == 55


async def test_recent_running_build_holds_the_floor():
    ids = list(range(10, 50))
    fetch, _ = fake_deck(ids, running=frozenset({45}))
    found, frontier, stats = await walk(fetch, set(ids) - {45}, floor=0)
    assert found == [] and stats.running == 1
    assert frontier.next_floor() == 45


def test_cut_short_walk_never_raises_the_floor():
    frontier = Frontier(floor=100, complete=False, newest=900)
    assert frontier.next_floor() == 100
    frontier.open.add(50)
    assert frontier.next_floor() == 50


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


async def test_a_walk_that_breaks_off_keeps_what_it_found_but_not_its_floor():
    ids = list(range(2000, 2070))
    inner, _ = fake_deck(ids)
    calls = 0

    async def flaky(url: str) -> HistoryPage:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise PageError("allBuilds is not valid JSON")
        return await inner(url)

    keep: deque[BuildRef] = deque()
    frontier = Frontier(floor=1990)
    with pytest.raises(PageError):
        await discover_deck(
            flaky,
            JOB,
            Known(frozenset(), frozenset()),
            JobStats(name="j"),
            keep,
            frontier,
            max_pages=None,
        )
    assert len(keep) == 40  # the two pages read
    for build in keep:
        frontier.settle(build.key)
    # Pages 3 and 4 were never read: the floor must not pass them.
    assert not frontier.complete and frontier.next_floor() == 1990
