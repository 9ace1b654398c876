"""End to end: the real CLI (a subprocess) against the sandbox's real HTTP servers and the real
GCS emulator on 127.0.0.1."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from crawler.sandbox import Sandbox
from crawler.tracker import parse_tracker
from tests.conftest import CliResult, run_cli

TOKEN = "tok-E2E-d1st1nct1ve-5ecret-93f1"


@pytest.fixture
def sandbox():
    with Sandbox(token=TOKEN) as sb:
        yield sb


def crawl(sb: Sandbox, tmp: Path, *args: str, env: dict[str, str] | None = None) -> CliResult:
    tmp.mkdir(parents=True, exist_ok=True)
    jobs = tmp / "jobs.yaml"
    if not jobs.exists():
        sb.write_jobs_yaml(jobs)
    return run_cli(
        ["run", "--jobs", str(jobs), "--tracker-dir", str(tmp / "tracker"), *args],
        env=sb.env() if env is None else env,
    )


def tracked(tmp: Path, job: str) -> list[int]:
    path = tmp / "tracker" / f"{job}.txt"
    if not path.exists():
        return []
    text = path.read_text()
    assert text == "" or text.endswith("\n"), "tracker must end with a whole line"
    ids, note, _ = parse_tracker(text, str(path))
    assert note is None
    lines = [int(x) for x in text.split()]
    assert len(lines) == len(ids), "a build is tracked twice"
    return lines


def finished_ids(sb: Sandbox) -> Counter[str]:
    return Counter(b.id for b in sb.world.finished_builds())


def test_full_run_uploads_every_finished_build_once_and_tracks_it(sandbox, tmp_path):
    res = crawl(sandbox, tmp_path, "--limit", "0")
    assert res.code == 0, res.output
    assert sandbox.recorder.count_by_id() == finished_ids(sandbox)
    for job in sandbox.world.jobs:
        done = {int(b.id) for b in job.builds if b.finished is not None}
        assert set(tracked(tmp_path, job.name)) == done
        running = [b.id for b in job.builds if b.finished is None]
        assert not set(map(int, running)) & set(tracked(tmp_path, job.name))
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


def test_second_run_uploads_nothing_and_reads_one_page_per_job(sandbox, tmp_path):
    assert crawl(sandbox, tmp_path, "--limit", "0").code == 0
    posts, pages = sandbox.recorder.posts, sandbox.deck_requests.total()
    res = crawl(sandbox, tmp_path, "--json")
    assert res.code == 0, res.output
    assert sandbox.recorder.posts == posts
    summary = json.loads(res.stdout)
    assert summary["totals"]["uploaded"] == 0 and summary["totals"]["new"] == 0
    # Nothing new: the first page of each job reaches below the floor, so the walk stops
    # there, even for the job whose newest build is still running.
    extra = sandbox.deck_requests.total() - pages
    assert extra == len(sandbox.world.jobs)
    assert summary["requests"]["gcs"] == 0
    assert summary["requests"]["logilica"] == 0  # not even GET /repositories


def test_limited_runs_fill_every_gap_without_duplicates(sandbox, tmp_path):
    total = sum(finished_ids(sandbox).values())
    runs = 0
    while True:
        runs += 1
        assert runs <= 20, "limited runs never caught up"
        res = crawl(sandbox, tmp_path, "--limit", "7", "--json")
        assert res.code == 0, res.output
        summary = json.loads(res.stdout)
        for job in summary["jobs"]:
            assert job["uploaded"] <= 7
        if summary["totals"]["uploaded"] == 0:
            break
    assert runs > 2
    counts = sandbox.recorder.count_by_id()
    assert sum(counts.values()) == total and max(counts.values()) == 1
    assert counts == finished_ids(sandbox)


def test_build_that_finishes_later_is_picked_up(sandbox, tmp_path):
    assert crawl(sandbox, tmp_path, "--limit", "0").code == 0
    running = [b for j in sandbox.world.jobs for b in j.builds if b.finished is None]
    assert running, "the default world has a running build"
    build = running[0]
    assert build.id not in sandbox.recorder.count_by_id()
    sandbox.finish_build(build.job, build.id, "FAILURE")
    res = crawl(sandbox, tmp_path, "--json")
    assert res.code == 0, res.output
    assert sandbox.recorder.count_by_id()[build.id] == 1
    received = [b for _, b in sandbox.recorder.received() if b["originalID"] == build.id]
    assert received[0]["conclusion"] == "Failure"


def test_dry_run_writes_nothing_and_needs_no_token(sandbox, tmp_path):
    env = {k: v for k, v in sandbox.env().items() if k != "LOGILICA_TOKEN"}
    res = crawl(sandbox, tmp_path, "--dry-run", "--limit", "0", env=env)
    assert res.code == 0, res.output
    assert sandbox.recorder.posts == 0
    assert not (tmp_path / "tracker").exists() or not any((tmp_path / "tracker").glob("*.txt"))
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("would-upload ")]
    assert len(lines) == sum(finished_ids(sandbox).values())
    for field in ("job=", "build=", "conclusion=", "repo=", "commit=", "started=", "completed="):
        assert all(field in ln for ln in lines)


def test_dry_run_verbose_shows_full_objects(sandbox, tmp_path):
    res = crawl(sandbox, tmp_path, "--dry-run", "--limit", "1", "--verbose")
    assert res.code == 0, res.output
    assert '"originalID"' in res.stdout and '"stages"' in res.stdout
    assert TOKEN not in res.output


def test_unknown_repository_fails_only_its_job(sandbox, tmp_path):
    first, *others = sandbox.world.jobs
    sandbox.write_jobs_yaml(tmp_path / "jobs.yaml")
    text = (tmp_path / "jobs.yaml").read_text()
    url = sandbox.job_urls()[first.name]
    text = text.replace(f"- url: {url}\n", f"- url: {url}\n    repo: nobody/unknown-repo\n")
    (tmp_path / "jobs.yaml").write_text(text)
    res = crawl(sandbox, tmp_path, "--limit", "0")
    assert res.code == 1, res.output
    assert "nobody/unknown-repo" in res.output
    assert tracked(tmp_path, first.name) == []
    received = sandbox.recorder.count_by_id()
    for job in others:
        done = {b.id for b in job.builds if b.finished is not None}
        assert done <= set(received)
        assert {int(i) for i in done} == set(tracked(tmp_path, job.name))


def test_missing_token_is_a_usage_error(sandbox, tmp_path):
    env = {k: v for k, v in sandbox.env().items() if k != "LOGILICA_TOKEN"}
    res = crawl(sandbox, tmp_path, env=env)
    assert res.code == 2
    assert "LOGILICA_TOKEN" in res.stderr
    assert sandbox.deck_requests.total() == 0


def test_wrong_token_fails_without_leaking_it(sandbox, tmp_path):
    env = {**sandbox.env(), "LOGILICA_TOKEN": "tok-WRONG-also-secret-77"}
    res = crawl(sandbox, tmp_path / "right", "--verbose", "--json")
    assert res.code == 0  # sanity: the right token works
    res = crawl(sandbox, tmp_path / "wrong", "--verbose", "--json", env=env)
    assert res.code == 1
    assert "LOGILICA_TOKEN" in res.output  # the hint names the variable...
    assert "tok-WRONG-also-secret-77" not in res.output  # ...never its value
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
    url = sandbox.job_urls()[job.name]
    res = run_cli(
        [
            "crawl",
            "--job-url",
            url,
            "--repo",
            job.repo,
            "--tracker-dir",
            str(tmp_path / "t"),
            "--limit",
            "0",
        ],
        env=sandbox.env(),
    )
    assert res.code == 0, res.output
    done = {int(b.id) for b in job.builds if b.finished is not None}
    assert set(tracked_dir(tmp_path / "t", job.name)) == done
    prs = [b for _, b in sandbox.recorder.received() if b["pullRequestUrls"]]
    assert len(prs) == len(done)
    assert all(b["triggeredBy"]["name"] for b in prs)


def tracked_dir(directory: Path, job: str) -> list[int]:
    return [int(x) for x in (directory / f"{job}.txt").read_text().split()]


def test_status_reports_tracked_builds_without_network(sandbox, tmp_path):
    assert crawl(sandbox, tmp_path, "--limit", "0").code == 0
    pages = sandbox.deck_requests.total()
    res = run_cli(
        [
            "status",
            "--jobs",
            str(tmp_path / "jobs.yaml"),
            "--tracker-dir",
            str(tmp_path / "tracker"),
        ]
    )
    assert res.code == 0, res.output
    for job in sandbox.world.jobs:
        done = [int(b.id) for b in job.builds if b.finished is not None]
        assert f"{job.name}: tracked={len(done)} newest={max(done)} failed=0" in res.stdout
    assert sandbox.deck_requests.total() == pages


def test_only_named_jobs_run(sandbox, tmp_path):
    name = sandbox.world.jobs[1].name
    res = crawl(sandbox, tmp_path, "--job", name, "--limit", "0")
    assert res.code == 0, res.output
    got = {b["name"] for _, b in sandbox.recorder.received()}
    assert got == {name}
    res = crawl(sandbox, tmp_path, "--job", "no-such-job")
    assert res.code == 2 and "no-such-job" in res.stderr


def test_demo_command_succeeds():
    res = run_cli(["demo"], timeout=300)
    assert res.code == 0, res.output
    assert "demo OK" in res.stdout
