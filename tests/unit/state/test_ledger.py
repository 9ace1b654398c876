"""JobLedger: a job's files across one run, and the floor it leaves for the next."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from crawler.core.defaults import GIVE_UP_AFTER_RUNS
from crawler.core.found import Found, ListingVerdict
from crawler.core.horizon import Horizon
from crawler.core.records import Payload
from crawler.state.checkpoint import Checkpoint, read_checkpoint, write_checkpoint
from crawler.state.ledger import BuildTask, JobLedger
from crawler.state.tracker import JobLocked
from tests.unit.factories import build_ref, job_spec, snowflake_at

NOW = 1_785_000_000.0
DAY = 86400


def floor_part(checkpoint: Checkpoint) -> Checkpoint:
    """What discovery reads back, without what monitoring reads (tested on its own below)."""
    return replace(checkpoint, newest_id=None, newest_started=None, seen_at=None, behind_since=None)


def ledger(tmp: Path, **kw: bool) -> JobLedger:
    return JobLedger(
        job_spec(), tmp, dry_run=kw.get("dry_run", False), retry_failed=kw.get("retry", False)
    )


async def test_floor_rises_to_the_oldest_unsettled_build(tmp_path):
    j = ledger(tmp_path)
    await j.open(lock_wait=0, horizon=None)
    refs = [build_ref(i) for i in (100, 101, 102)]
    found = Found(candidates=refs, unsettled={100, 101, 102}, complete=True, newest=105)
    assert j.begin(found) == refs
    await j.confirmed([BuildTask(j, refs[0]), BuildTask(j, refs[2])])
    assert not j.finished.is_set()
    j.failed(refs[1], "HTTP 503 (gave up after retries)", permanent=False)
    assert j.finished.is_set()
    await j.close()
    assert floor_part(read_checkpoint(tmp_path, "j")) == Checkpoint(floor=101, backlog=1)
    assert (tmp_path / "j.txt").read_text() == "100\n102\n"


async def test_nothing_left_moves_the_floor_past_the_newest_build(tmp_path):
    j = ledger(tmp_path)
    await j.open(lock_wait=0, horizon=None)
    j.begin(Found(complete=True, newest=200))
    await j.close()
    assert read_checkpoint(tmp_path, "j").floor == 201


async def test_an_incomplete_walk_keeps_the_old_floor(tmp_path):
    write_checkpoint(tmp_path, "j", Checkpoint(floor=50))
    j = ledger(tmp_path)
    settled = await j.open(lock_wait=0, horizon=None)
    assert settled.floor == 50
    j.begin(Found(complete=False, newest=900, error="job history: HTTP 500"))
    assert j.counts.status == "failed"
    await j.close()
    assert read_checkpoint(tmp_path, "j").floor == 50


async def test_running_builds_hold_the_floor_but_are_no_backlog(tmp_path):
    j = ledger(tmp_path)
    await j.open(lock_wait=0, horizon=None)
    recent = snowflake_at(NOW - 3600)
    found = Found(unsettled={recent}, running_ids={recent}, complete=True, newest=recent)
    j.begin(found)
    await j.close()
    assert floor_part(read_checkpoint(tmp_path, "j")) == Checkpoint(floor=recent, backlog=0)


async def test_a_candidate_found_running_long_ago_is_abandoned(tmp_path):
    j = ledger(tmp_path)
    await j.open(lock_wait=0, horizon=None)
    old, new = snowflake_at(NOW - 3 * DAY), snowflake_at(NOW - 3600)
    j.begin(Found(candidates=[build_ref(old), build_ref(new)], unsettled={old, new}, complete=True))
    j.still_running(build_ref(old, started="0001-01-01T00:00:00Z"), NOW)
    j.still_running(build_ref(new, started="0001-01-01T00:00:00Z"), NOW)
    assert j.finished.is_set() and j.counts.running == 2
    await j.close()
    assert read_checkpoint(tmp_path, "j").floor == new


async def test_given_up_builds_settle_and_stop_holding_the_floor(tmp_path):
    ref = build_ref(300)
    for attempt in range(1, GIVE_UP_AFTER_RUNS + 1):
        j = ledger(tmp_path)
        settled = await j.open(lock_wait=0, horizon=None)
        assert settled.given_up == frozenset()
        j.begin(Found(candidates=[ref], unsettled={300}, complete=True, newest=300))
        reason = j.failed(ref, "malformed finished.json", permanent=True)
        assert f"attempt {attempt}/{GIVE_UP_AFTER_RUNS}" in reason
        await j.close()
    assert read_checkpoint(tmp_path, "j").floor == 301
    j = ledger(tmp_path)
    assert (await j.open(lock_wait=0, horizon=None)).given_up == {300}
    await j.close()
    # --retry-failed looks at everything again, given-up builds included.
    j = ledger(tmp_path, retry=True)
    settled = await j.open(lock_wait=0, horizon=None)
    assert settled.given_up == frozenset() and settled.floor == 0
    await j.close()


async def test_horizon_moved_back_means_looking_from_the_new_horizon_again(tmp_path):
    later = Horizon(at=NOW - 2 * DAY, text="2d")
    j = ledger(tmp_path)
    assert (await j.open(lock_wait=0, horizon=later)).floor == 0
    j.begin(Found(complete=True, newest=snowflake_at(NOW)))
    await j.close()
    saved = read_checkpoint(tmp_path, "j")
    assert saved.horizon == later.first_id and saved.floor == snowflake_at(NOW) + 1
    # A rolling horizon moves forwards: the floor still holds.
    j = ledger(tmp_path)
    assert (await j.open(lock_wait=0, horizon=Horizon(NOW - DAY, "1d"))).floor == saved.floor
    await j.close()
    # Moved back (or removed): builds between the two horizons were never looked at.
    j = ledger(tmp_path)
    assert (await j.open(lock_wait=0, horizon=Horizon(NOW - 9 * DAY, "9d"))).floor == 0
    await j.close()
    j = ledger(tmp_path)
    assert (await j.open(lock_wait=0, horizon=None)).floor == 0
    await j.close()


async def test_listing_verdicts_are_remembered_and_cleared(tmp_path):
    j = ledger(tmp_path)
    await j.open(lock_wait=0, horizon=None)
    verdict = ListingVerdict(False, ("a", "b"), "gs://a refused anonymous listing (HTTP 401)")
    j.begin(Found(complete=True, listing=verdict))
    await j.close()
    j = ledger(tmp_path)
    assert (await j.open(lock_wait=0, horizon=None)).distrusted == ("a", "b")
    j.begin(Found(complete=True))  # no listing tried: the verdict stays
    await j.close()
    assert read_checkpoint(tmp_path, "j").distrusted == ("a", "b")
    j = ledger(tmp_path)
    await j.open(lock_wait=0, horizon=None)
    j.begin(Found(complete=True, listing=ListingVerdict(True, ("a", "b", "c"))))
    await j.close()
    assert read_checkpoint(tmp_path, "j").distrusted == ()


async def test_a_job_that_failed_before_discovery_keeps_its_checkpoint(tmp_path):
    write_checkpoint(tmp_path, "j", Checkpoint(floor=77, backlog=3))
    j = ledger(tmp_path)
    await j.open(lock_wait=0, horizon=None)
    j.fail_job("job history: HTTP 500")
    await j.close()
    assert read_checkpoint(tmp_path, "j") == Checkpoint(floor=77, backlog=3)


async def test_dry_run_takes_no_lock_and_writes_nothing(tmp_path):
    (tmp_path / "j.txt").write_text("1\n2\n3")  # a torn last line: not repaired in a dry run
    j = ledger(tmp_path, dry_run=True)
    settled = await j.open(lock_wait=0, horizon=None)
    assert settled.tracked == {1, 2} and j.repaired
    j.begin(Found(candidates=[build_ref(4)], unsettled={4}, complete=True, newest=4))
    j.would_upload()
    await j.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j.txt"]
    assert (tmp_path / "j.txt").read_text() == "1\n2\n3"


async def test_close_is_idempotent_and_releases_the_lock(tmp_path):
    j = ledger(tmp_path)
    await j.open(lock_wait=0, horizon=None)
    other = ledger(tmp_path)
    with pytest.raises(JobLocked):
        await other.open(lock_wait=0, horizon=None)
    j.begin(Found(complete=True, newest=9))
    await j.close()
    await j.close()
    await other.open(lock_wait=0, horizon=None)
    await other.close()


def test_checkpoint_keeps_keys_it_does_not_know(tmp_path):
    path = tmp_path / "j.state.json"
    path.write_text(json.dumps({"floor": 5, "backlog": 0, "from_the_future": [1, 2]}))
    assert read_checkpoint(tmp_path, "j").floor == 5
    write_checkpoint(tmp_path, "j", Checkpoint(floor=9))
    data = json.loads(path.read_text())
    assert data["floor"] == 9 and data["from_the_future"] == [1, 2]
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    "body",
    ['{"floor": -1, "backlog": 0}', '{"floor": true, "backlog": 0}', "[]", "{", '{"floor": "9"}'],
)
def test_broken_checkpoint_means_the_whole_history(tmp_path, body):
    (tmp_path / "j.state.json").write_text(body)
    assert read_checkpoint(tmp_path, "j") == Checkpoint()


# -- what monitoring reads between runs -----------------------------------------------------------


async def test_the_newest_tracked_build_and_its_start_are_kept(tmp_path):
    old, new = snowflake_at(NOW - 2 * DAY), snowflake_at(NOW - DAY)
    j = ledger(tmp_path)
    await j.open(lock_wait=0, horizon=None)
    refs = [build_ref(old), build_ref(new)]
    j.begin(Found(candidates=refs, unsettled={old, new}, complete=True, newest=new))
    await j.confirmed([BuildTask(j, refs[1]), BuildTask(j, refs[0])])
    await j.close()
    saved = read_checkpoint(tmp_path, "j")
    assert saved.newest_id == new
    assert saved.newest_started == pytest.approx(NOW - DAY, abs=0.001)


async def test_a_small_id_takes_its_start_from_started_json_and_keeps_it(tmp_path):
    j = ledger(tmp_path)
    await j.open(lock_wait=0, horizon=None)
    ref = build_ref(4321)
    j.begin(Found(candidates=[ref], unsettled={4321}, complete=True, newest=4321))
    payload = Payload("o/r", {"startedAt": 1_500_000_000})
    await j.confirmed([BuildTask(j, ref, payload)])
    await j.close()
    assert read_checkpoint(tmp_path, "j").newest_started == 1_500_000_000
    # The next run finds nothing new: the start read from started.json stays known.
    j = ledger(tmp_path)
    await j.open(lock_wait=0, horizon=None)
    j.begin(Found(complete=True, newest=4321))
    await j.close()
    saved = read_checkpoint(tmp_path, "j")
    assert (saved.newest_id, saved.newest_started) == (4321, 1_500_000_000)


async def test_behind_since_is_the_start_of_the_oldest_build_left(tmp_path):
    older, old, new = (snowflake_at(NOW - h * 3600) for h in (30, 20, 10))
    j = ledger(tmp_path)
    await j.open(lock_wait=0, horizon=None)
    # The limit took one; two finished builds are left for a later run.
    found = Found(candidates=[build_ref(older)], unsettled={older, old, new}, complete=True)
    j.begin(found)
    await j.confirmed([BuildTask(j, build_ref(older))])
    await j.close()
    saved = read_checkpoint(tmp_path, "j")
    assert saved.backlog == 2
    assert saved.behind_since == pytest.approx(NOW - 20 * 3600, abs=0.001)
    assert saved.seen_at is not None


async def test_up_to_date_then_blind_counts_from_when_the_job_was_last_seen(tmp_path):
    j = ledger(tmp_path)
    await j.open(lock_wait=0, horizon=None)
    j.begin(Found(complete=True, newest=snowflake_at(NOW)))
    await j.close()
    seen = read_checkpoint(tmp_path, "j")
    assert seen.behind_since is None and seen.seen_at is not None
    # The next run cannot read the job's history: Logilica may lack builds since then.
    j = ledger(tmp_path)
    await j.open(lock_wait=0, horizon=None)
    j.fail_job("job history: HTTP 500")
    await j.close()
    blind = read_checkpoint(tmp_path, "j")
    assert blind.behind_since == seen.seen_at and blind.seen_at == seen.seen_at
    assert blind.floor == seen.floor
