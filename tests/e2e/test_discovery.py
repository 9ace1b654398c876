"""End to end: --discovery deck|gcs|auto and --shard against the sandbox."""

from __future__ import annotations

from crawler.settings.config import shard_of
from tests.e2e.conftest import finished_by_job, run_crawler, run_json, tracked_by_job


def test_deck_and_gcs_discovery_find_the_same_builds(sandbox, tmp_path):
    deck = run_json(sandbox, tmp_path, "--discovery", "deck", "--dry-run", "--limit", "0")
    gcs = run_json(sandbox, tmp_path, "--discovery", "gcs", "--dry-run", "--limit", "0")
    finished = len(sandbox.world.finished_builds())
    assert deck["totals"]["uploaded"] == gcs["totals"]["uploaded"] == finished
    # Deck knows what is running from the page; the listing finds out from GCS (404).
    assert (
        deck["totals"]["running"] == gcs["totals"]["running"] == len(sandbox.world.running_builds())
    )


def test_gcs_discovery_uploads_everything_once_including_presubmits(sandbox, tmp_path):
    summary = run_json(sandbox, tmp_path, "--discovery", "gcs", "--limit", "0")
    # Listing, not walking: deck's newest page only, the truth the listing is checked against.
    assert summary["requests"]["deck"] == len(sandbox.world.jobs)
    counts = sandbox.recorder.count_by_id()
    assert counts == {b.id: 1 for b in sandbox.world.finished_builds()}
    assert tracked_by_job(tmp_path / "tracker") == finished_by_job(sandbox)
    # Presubmits found through pr-logs/directory carry their PR, as with deck discovery.
    presubmit_ids = {
        b.id for j in sandbox.world.jobs if j.kind == "presubmit" for b in j.builds if b.finished
    }
    assert presubmit_ids
    for _, build in sandbox.recorder.received():
        if build["originalID"] in presubmit_ids:
            assert build["pullRequestUrls"] and build["triggeredBy"]["name"]


def test_gcs_discovery_with_limit_fills_every_gap(sandbox, tmp_path):
    for _ in range(15):
        summary = run_json(sandbox, tmp_path, "--discovery", "gcs", "--limit", "9")
        if summary["totals"]["uploaded"] == 0:
            break
    counts = sandbox.recorder.count_by_id()
    assert counts == {b.id: 1 for b in sandbox.world.finished_builds()}
    # Caught up: one listing per bucket of each job, and one look at each running build's
    # finished.json; the floor keeps settled builds out of the listing.
    running = len(sandbox.world.running_builds())
    assert summary["requests"]["gcs"] <= 2 * len(sandbox.world.jobs) + running


def test_auto_discovery_lists_while_catching_up_then_uses_deck(sandbox, tmp_path):
    first = run_json(sandbox, tmp_path, "--limit", "0")
    # Empty trackers: a backfill, listed from GCS after one look at each newest page.
    assert first["requests"]["deck"] == len(sandbox.world.jobs)
    assert {j["discovery"] for j in first["jobs"]} == {"gcs"}
    assert sum(sandbox.recorder.count_by_id().values()) == len(sandbox.world.finished_builds())
    second = run_json(sandbox, tmp_path)
    assert second["totals"]["uploaded"] == 0
    # Up to date: one deck page per job...
    assert second["requests"]["deck"] == len(sandbox.world.jobs)
    assert {j["discovery"] for j in second["jobs"]} == {"deck"}
    # ...and nothing downloaded.
    assert second["requests"]["gcs"] == 0


def test_shards_split_jobs_disjointly_and_cover_them(sandbox, tmp_path):
    names = [j.name for j in sandbox.world.jobs]
    seen: list[str] = []
    for index in range(3):
        summary = run_json(sandbox, tmp_path, "--shard", f"{index}/3", "--limit", "0")
        ran = [j["name"] for j in summary["jobs"]]
        assert ran == [n for n in names if shard_of(n, 3) == index]
        seen += ran
    assert sorted(seen) == sorted(names)
    assert sandbox.recorder.count_by_id() == {b.id: 1 for b in sandbox.world.finished_builds()}


def test_bad_discovery_and_shard_are_usage_errors(sandbox, tmp_path):
    for args, word in ((["--discovery", "ftp"], "--discovery"), (["--shard", "3/3"], "--shard")):
        res = run_crawler(sandbox, tmp_path, *args)
        assert res.code == 2 and word in res.stderr, res.output
    assert sandbox.deck_requests.total() == 0
