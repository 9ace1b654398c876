"""End to end: the real CLI (a subprocess) against the sandbox's real HTTP servers and the real
GCS emulator on 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli
from tests.e2e.conftest import (
    TOKEN,
    WRONG_TOKEN,
    assert_exactly_once,
    crawl_args,
    crawler_args,
    finished_by_job,
    finished_ids,
    read_tracker,
    run_crawler,
    run_json,
    set_job_repo,
)


def test_full_run_uploads_every_finished_build_once_and_tracks_it(sandbox, tmp_path):
    res = run_crawler(sandbox, tmp_path, "--limit", "0")
    assert res.code == 0, res.output
    assert sandbox.recorder.count_by_id() == finished_ids(sandbox)
    done = finished_by_job(sandbox)
    for job in sandbox.world.jobs:
        tracked = set(read_tracker(tmp_path / "tracker", job.name))
        assert tracked == done[job.name]
        assert not {b.id for b in job.builds if b.running} & tracked
    # Every received build object is well formed for its job.
    by_id = {b.id: b for b in sandbox.world.finished_builds()}
    for _repo_id, build in sandbox.recorder.received():
        src = by_id[build["originalID"]]
        assert build["name"] == src.job
        assert build["url"].endswith(f"/view/gs/{src.bucket}/{src.path}")
        assert build["startedAt"] == src.started
        assert build["completedAt"] >= build["startedAt"]
        assert build["repoUrl"] == f"https://github.com/{src.repo}"
    assert "summary job=" in res.stdout and "total jobs=" in res.stdout


@pytest.mark.parametrize("feed", [False, True], ids=["no-feed", "feed"])
def test_second_run_uploads_nothing_and_reads_one_page_per_job(sandbox, tmp_path, feed):
    assert run_crawler(sandbox, tmp_path, "--limit", "0", feed=feed).code == 0
    posts, pages = sandbox.recorder.posts, sandbox.deck_requests.total()
    feeds = sandbox.feed_requests.total()
    summary = run_json(sandbox, tmp_path, feed=feed)
    assert sandbox.recorder.posts == posts
    assert summary["totals"]["uploaded"] == 0 and summary["totals"]["new"] == 0
    extra = sandbox.deck_requests.total() - pages
    if feed:
        # One feed request; the only page read is the hidden job's, which the feed does not
        # list (its first run found the feed blind for it): every other job is covered.
        assert sandbox.feed_requests.total() - feeds == 1
        hidden = [j for j in summary["jobs"] if j["discovery"] == "deck"]
        assert extra == len(hidden) == 1
        assert all(j["discovery"] == "feed" for j in summary["jobs"] if j not in hidden)
    else:
        # Nothing new: the first page of each job reaches below the floor, so the walk stops
        # there, even for the job whose newest build is still running.
        assert sandbox.feed_requests.total() == feeds == 0
        assert extra == len(sandbox.world.jobs)
    assert summary["requests"]["gcs"] == 0
    assert summary["requests"]["logilica"] == 0  # not even GET /repositories


def test_limited_runs_fill_every_gap_without_duplicates(sandbox, tmp_path):
    total = sum(finished_ids(sandbox).values())
    runs = 0
    while True:
        runs += 1
        assert runs <= 20, "limited runs never caught up"
        summary = run_json(sandbox, tmp_path, "--limit", "7")
        for job in summary["jobs"]:
            assert job["uploaded"] <= 7
        if summary["totals"]["uploaded"] == 0:
            break
    assert runs > 2
    counts = sandbox.recorder.count_by_id()
    assert sum(counts.values()) == total and max(counts.values()) == 1
    assert counts == finished_ids(sandbox)


def test_build_that_finishes_later_is_picked_up(sandbox, tmp_path):
    assert run_crawler(sandbox, tmp_path, "--limit", "0").code == 0
    running = sandbox.world.running_builds()
    assert running, "the default world has a running build"
    build = running[0]
    assert build.id not in sandbox.recorder.count_by_id()
    sandbox.finish_build(build.job, build.id, "FAILURE")
    run_json(sandbox, tmp_path)
    assert sandbox.recorder.count_by_id()[build.id] == 1
    received = [b for _, b in sandbox.recorder.received() if b["originalID"] == build.id]
    assert received[0]["conclusion"] == "Failure"


def test_dry_run_writes_nothing_and_needs_no_token(sandbox, tmp_path):
    res = run_crawler(sandbox, tmp_path, "--dry-run", "--limit", "0", env={"LOGILICA_TOKEN": None})
    assert res.code == 0, res.output
    assert sandbox.recorder.posts == 0
    assert not (tmp_path / "tracker").exists() or not any((tmp_path / "tracker").glob("*.txt"))
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("would-upload ")]
    assert len(lines) == sum(finished_ids(sandbox).values())
    for field in ("job=", "build=", "conclusion=", "repo=", "commit=", "started=", "completed="):
        assert all(field in ln for ln in lines)


def test_dry_run_verbose_shows_full_objects(sandbox, tmp_path):
    res = run_crawler(sandbox, tmp_path, "--dry-run", "--limit", "1", "--verbose")
    assert res.code == 0, res.output
    assert '"originalID"' in res.stdout and '"stages"' in res.stdout
    assert TOKEN not in res.output


def test_unknown_repository_fails_only_its_job(sandbox, tmp_path):
    first, *others = sandbox.world.jobs
    jobs = sandbox.write_jobs_yaml(tmp_path / "jobs.yaml")
    set_job_repo(sandbox, jobs, first.name, "nobody/unknown-repo")
    res = run_crawler(sandbox, tmp_path, "--limit", "0")
    assert res.code == 1, res.output
    assert "nobody/unknown-repo" in res.output
    assert read_tracker(tmp_path / "tracker", first.name) == []
    received = sandbox.recorder.count_by_id()
    done = finished_by_job(sandbox)
    for job in others:
        assert done[job.name] <= set(received)
        assert done[job.name] == set(read_tracker(tmp_path / "tracker", job.name))


def test_missing_token_is_a_usage_error(sandbox, tmp_path):
    res = run_crawler(sandbox, tmp_path, env={"LOGILICA_TOKEN": None})
    assert res.code == 2
    assert "LOGILICA_TOKEN" in res.stderr
    assert sandbox.deck_requests.total() == 0


def test_wrong_token_fails_without_leaking_it(sandbox, tmp_path):
    res = run_crawler(sandbox, tmp_path / "right", "--verbose", "--json")
    assert res.code == 0  # sanity: the right token works
    wrong = {"LOGILICA_TOKEN": WRONG_TOKEN}
    res = run_crawler(sandbox, tmp_path / "wrong", "--verbose", "--json", env=wrong)
    assert res.code == 1
    assert "LOGILICA_TOKEN" in res.output  # the hint names the variable...
    assert WRONG_TOKEN not in res.output  # ...never its value
    assert TOKEN not in res.output


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("jobs:\n  - url: [unclosed\n", "that starts on line 2"),
        ("jobs:\n  - url: http://x/job-history/gs/b/logs/j\n    colour: red\n", ":3: unknown key"),
        ("jobs:\n  - repo: a/b\n", ":2: jobs[0]: missing required key 'url'"),
        ("jobs:\n  - http://x/not-history/j\n", ":2: jobs[0]"),
        (
            "jobs:\n  - url: http://x/job-history/gs/b/logs/j\n    name: ../evil\n",
            "not usable as a tracker file name",
        ),
        (
            "jobs:\n  - http://x/job-history/gs/b/logs/j\n  - http://x/job-history/gs/b/logs/j\n",
            ":3: jobs[1]: job 'j' is listed twice",
        ),
        ("surprise: 1\njobs: []\n", ":1: unknown key 'surprise'"),
    ],
)
def test_config_errors_exit_2_with_file_and_line(tmp_path, content, expected):
    jobs = tmp_path / "bad.yaml"
    jobs.write_text(content)
    for command in (["run", "--dry-run", "--tracker-dir", str(tmp_path / "t")], ["validate"]):
        res = run_cli([*command, "--jobs", str(jobs)])
        assert res.code == 2, res.output
        assert str(jobs) in res.stderr and expected in res.stderr, res.stderr
        assert "Traceback" not in res.output
    assert not (tmp_path / "t").exists()


def test_crawl_single_job_by_url(sandbox, tmp_path):
    job = next(j for j in sandbox.world.jobs if j.kind == "presubmit")
    res = run_cli(crawl_args(sandbox, job, tmp_path / "t", "--limit", "0"), env=sandbox.env())
    assert res.code == 0, res.output
    done = finished_by_job(sandbox)[job.name]
    assert set(read_tracker(tmp_path / "t", job.name)) == done
    prs = [b for _, b in sandbox.recorder.received() if b["pullRequestUrls"]]
    assert len(prs) == len(done)
    assert all(b["triggeredBy"]["name"] for b in prs)


def test_status_reports_tracked_builds_without_network(sandbox, tmp_path):
    assert run_crawler(sandbox, tmp_path, "--limit", "0").code == 0
    pages = sandbox.deck_requests.total()
    # No sandbox environment: status needs neither the network nor a token.
    res = run_cli(crawler_args(tmp_path / "jobs.yaml", tmp_path / "tracker", command="status"))
    assert res.code == 0, res.output
    for job, done in finished_by_job(sandbox).items():
        newest = max(done, key=int)
        assert f"{job}: tracked={len(done)} newest={newest} failed=0" in res.stdout
    assert sandbox.deck_requests.total() == pages


def test_only_named_jobs_run(sandbox, tmp_path):
    name = sandbox.world.jobs[1].name
    res = run_crawler(sandbox, tmp_path, "--job", name, "--limit", "0")
    assert res.code == 0, res.output
    got = {b["name"] for _, b in sandbox.recorder.received()}
    assert got == {name}
    res = run_crawler(sandbox, tmp_path, "--job", "no-such-job")
    assert res.code == 2 and "no-such-job" in res.stderr


def test_demo_command_succeeds():
    res = run_cli(["demo"], timeout=300)
    assert res.code == 0, res.output
    assert "demo OK" in res.stdout


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_both_event_loops_upload_everything_once(sandbox, tmp_path, loop):
    """uvloop where it is installed; the standard loop is the fallback and must work alike."""
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    summary = run_json(sandbox, tmp_path, "--limit", "0", env={"PROW_CRAWLER_LOOP": loop})
    assert summary["loop"] == loop
    assert summary["totals"]["uploaded"] == sum(map(len, finished_by_job(sandbox).values()))
    assert_exactly_once(sandbox, tmp_path / "tracker")
