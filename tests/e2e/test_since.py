"""The backfill horizon end to end: `--since`, `since:` in the jobs file, and what a later
run does with it."""

from __future__ import annotations

import time

import pytest

from crawler.sandbox import Sandbox, generated_world
from tests.e2e.conftest import TOKEN, read_tracker, run_crawler, run_json

DAY = 86400
BOUNDARY = 120  # seconds of doubt around the horizon: it is resolved when the run starts


def _recent_world() -> tuple[Sandbox, float]:
    """3 jobs, a build about every hour for ~5 days, the newest a day ago (never ahead of now)."""
    end = int(time.time()) - DAY
    return Sandbox(generated_world(3, 120, now=end, seed=11), token=TOKEN), end


def _split(sb: Sandbox, horizon: float) -> tuple[set[str], set[str]]:
    """Finished builds clearly after / clearly before the horizon."""
    after = {b.id for b in sb.world.finished_builds() if b.started >= horizon + BOUNDARY}
    before = {b.id for b in sb.world.finished_builds() if b.started < horizon - BOUNDARY}
    return after, before


@pytest.mark.parametrize("mode", ["deck", "auto"])
def test_since_uploads_exactly_the_builds_after_the_horizon(tmp_path, mode):
    sb, _end = _recent_world()
    with sb:
        began = time.time()
        summary = run_json(sb, tmp_path, "--limit", "0", "--since", "2d", "--discovery", mode)
        after, before = _split(sb, began - 2 * DAY)
        got = set(sb.recorder.count_by_id())
        assert after and before
        assert after <= got and not (got & before)
        assert max(sb.recorder.count_by_id().values()) == 1
        assert summary["totals"]["new"] == len(got)  # builds before it are not counted
        for job in summary["jobs"]:
            assert job["horizon"].startswith("2d (") and job["backlog"] == 0
        if mode == "deck":
            # The walk stops at the page holding the horizon: 24 hourly builds a day.
            assert sb.deck_requests.total() <= len(sb.world.jobs) * (48 // 20 + 2)
        # The hourly cron after it: one deck page per job, nothing downloaded.
        sb.deck_requests.clear()
        sb.gcs_requests.clear()
        again = run_json(sb, tmp_path, "--since", "2d")
        assert again["totals"]["uploaded"] == 0
        assert sb.deck_requests.total() == len(sb.world.jobs)
        assert sb.gcs_requests.total() == 0


def test_defaults_job_and_flag_precedence(tmp_path):
    sb, _end = _recent_world()
    with sb:
        names = [j.name for j in sb.world.jobs]
        urls = sb.job_urls()
        jobs = [{"url": urls[names[0]], "since": "4d"}, {"url": urls[names[1]]}, urls[names[2]]]
        sb.write_jobs_yaml(
            tmp_path / "jobs.yaml", extra={"defaults": {"since": "2d"}, "jobs": jobs}
        )
        began = time.time()
        run_json(sb, tmp_path, "--limit", "0")
        for name, days in ((names[0], 4), (names[1], 2), (names[2], 2)):
            after, before = _split_job(sb, name, began - days * DAY)
            tracked = set(read_tracker(tmp_path / "tracker", name))
            assert after <= tracked and not (tracked & before), name
        # The flag beats both; moving the horizon back catches up what lies between.
        began = time.time()
        run_json(sb, tmp_path, "--limit", "0", "--since", "5d")
        for name in names:
            after, before = _split_job(sb, name, began - 5 * DAY)
            tracked = set(read_tracker(tmp_path / "tracker", name))
            assert after <= tracked and not (tracked & before), name
        assert max(sb.recorder.count_by_id().values()) == 1
        res = run_crawler(sb, tmp_path, command="status")
        assert res.code == 0 and f"{names[0]}: tracked=" in res.stdout
        assert "horizon=4d (" in res.stdout and "backlog=0" in res.stdout


def _split_job(sb: Sandbox, job: str, horizon: float) -> tuple[set[str], set[str]]:
    builds = [b for b in sb.world.job(job).builds if not b.running]
    after = {b.id for b in builds if b.started >= horizon + BOUNDARY}
    before = {b.id for b in builds if b.started < horizon - BOUNDARY}
    return after, before


@pytest.mark.parametrize("mode", ["deck", "gcs"])
def test_small_ids_are_judged_by_their_start_time(sandbox, tmp_path, mode):
    """branch-ci-openshift-origin-master-images has builds 16, 17, 18 from March 2018."""
    job = "branch-ci-openshift-origin-master-images"
    small = {"16", "17", "18"}
    run_json(sandbox, tmp_path / "a", "--job", job, "--limit", "0", "--since", "2018-01-01",
             "--discovery", mode)  # fmt: skip
    assert small <= set(read_tracker(tmp_path / "a" / "tracker", job))
    run_json(sandbox, tmp_path / "b", "--job", job, "--limit", "0", "--since", "2019-01-01",
             "--discovery", mode)  # fmt: skip
    tracked = set(read_tracker(tmp_path / "b" / "tracker", job))
    assert not tracked & small and len(tracked) == 30


def test_a_bad_or_future_since_is_a_usage_error(sandbox, tmp_path):
    for value, phrase in (("soon", "is not a date"), ("2999-01-01", "in the future")):
        res = run_crawler(sandbox, tmp_path, "--since", value)
        assert res.code == 2 and phrase in res.stderr, res.output
    assert sandbox.deck_requests.total() == 0
