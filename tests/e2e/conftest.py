"""Shared helpers of the end-to-end tests: a sandbox, the real CLI against it, and checks of
what Logilica received and what the tracker files say."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crawler.sandbox import Sandbox
from crawler.sandbox.records import SandboxJob
from crawler.state.tracker import parse_tracker
from tests.conftest import REPO_ROOT, CliResult, cli_command, cli_env, run_cli

# A distinctive token, so a leak into output or files can be searched for.
TOKEN = "tok-E2E-d1st1nct1ve-5ecret-93f1"
# One pasted by mistake: Logilica refuses it, and it must not leak either.
WRONG_TOKEN = "tok-WRONG-pa5ted-by-m1stake-41b8"
# Retries in milliseconds instead of seconds: the backoff's first step (Retry-After still counts).
FAST = {"PROW_CRAWLER_BACKOFF_BASE": "0.02"}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """The default world, served on 127.0.0.1 for one test."""
    with Sandbox(token=TOKEN) as sb:
        yield sb


def crawler_args(
    jobs: Path, tracker_dir: Path | None, *args: str, command: str = "run"
) -> list[str]:
    """The CLI's words `COMMAND --jobs JOBS [--tracker-dir TRACKER_DIR] ARGS`."""
    where = ["--jobs", str(jobs)]
    if tracker_dir is not None:
        where += ["--tracker-dir", str(tracker_dir)]
    return [command, *where, *args]


def crawl_args(sb: Sandbox, job: SandboxJob, tracker_dir: Path, *args: str) -> list[str]:
    """The CLI's words `crawl --job-url URL --repo REPO --tracker-dir DIR ARGS` for one job."""
    url = sb.job_urls()[job.name]
    return ["crawl", "--job-url", url, "--repo", job.repo, "--tracker-dir", str(tracker_dir), *args]


def run_crawler(
    sb: Sandbox,
    tmp: Path,
    *args: str,
    command: str = "run",
    env: dict[str, str | None] | None = None,
    jobs: Path | None = None,
    feed: bool = False,
) -> CliResult:
    """`prow-crawler run --jobs TMP/jobs.yaml --tracker-dir TMP/tracker ARGS` against `sb`.

    The jobs file lists every sandbox job unless it (or `jobs`) already exists. `env` adds to
    the sandbox's variables and FAST; a variable set to None there is left out. Without
    `feed`, `run` and `crawl` get --no-feed: the tests of page walks and listings count their
    requests as they were; tests/e2e/test_feed.py runs with the feed.
    """
    if not feed and command in ("run", "crawl"):
        args = (*args, "--no-feed")
    tmp.mkdir(parents=True, exist_ok=True)
    jobs = jobs or tmp / "jobs.yaml"
    if not jobs.exists():
        sb.write_jobs_yaml(jobs)
    tracker_dir = None if command == "validate" else tmp / "tracker"
    merged = {**sb.env(), **FAST, **(env or {})}
    return run_cli(
        crawler_args(jobs, tracker_dir, *args, command=command),
        env={k: v for k, v in merged.items() if v is not None},
    )


def run_json(sb: Sandbox, tmp: Path, *args: str, expect: int | None = 0, **kw: Any) -> dict:
    """run_crawler with --json; the summary document (the exit status checked if `expect`),
    plus its output as `_output`."""
    res = run_crawler(sb, tmp, "--json", *args, **kw)
    assert "Traceback" not in res.output, res.output
    if expect is not None:
        assert res.code == expect, res.output
    summary = json.loads(res.stdout)
    assert summary["exit_code"] == res.code, res.output
    summary["_output"] = res.output
    return summary


def set_job_repo(sb: Sandbox, jobs: Path, job: str, repo: str) -> None:
    """Give `job` a `repo:` in a jobs file written by `sb.write_jobs_yaml`."""
    url = sb.job_urls()[job]
    text = jobs.read_text()
    assert f"- url: {url}\n" in text, f"{job} is not in {jobs}"
    jobs.write_text(text.replace(f"- url: {url}\n", f"- url: {url}\n    repo: {repo}\n"))


def read_tracker(tracker_dir: Path, job: str) -> list[str]:
    """A tracker's IDs in file order, after checking it is valid: whole lines of decimal IDs,
    none twice (not even written another way), and nothing the crawler would repair."""
    path = tracker_dir / f"{job}.txt"
    if not path.exists():
        return []
    text = path.read_text(encoding="ascii")
    assert text == "" or text.endswith("\n"), f"{path.name}: torn last line {text[-30:]!r}"
    lines = text.split("\n")[:-1] if text else []
    assert all(ln.isdigit() for ln in lines), f"{path.name}: a line that is not a build ID"
    assert len(lines) == len(set(lines)), f"{path.name}: a build is tracked twice"
    ids, note, _ = parse_tracker(text, path.name)
    assert note is None, note
    assert len(ids) == len(lines), f"{path.name}: a build is tracked twice"
    return lines


def tracked_by_job(tracker_dir: Path) -> dict[str, set[str]]:
    """Every tracker file in the directory (each checked by read_tracker): job -> IDs."""
    if not tracker_dir.exists():
        return {}
    return {
        p.stem: set(read_tracker(tracker_dir, p.stem)) for p in sorted(tracker_dir.glob("*.txt"))
    }


def finished_ids(sb: Sandbox, job: str | None = None) -> Counter[str]:
    """Every finished build of the sandbox (of one job), once each: what Logilica must get."""
    return Counter(b.id for b in sb.world.finished_builds() if job is None or b.job == job)


def finished_by_job(sb: Sandbox) -> dict[str, set[str]]:
    """The IDs of each sandbox job's finished builds: job -> IDs (empty for none)."""
    return {j.name: {b.id for b in j.builds if not b.running} for j in sb.world.jobs}


def assert_exactly_once(
    sb: Sandbox,
    tracker_dir: Path,
    *,
    except_jobs: frozenset[str] = frozenset(),
    except_builds: frozenset[str] = frozenset(),
) -> None:
    """Every finished build (but the excepted) received once, none twice, each well formed;
    the trackers hold exactly what Logilica confirmed."""
    received = sb.recorder.count_by_id()
    assert not received or max(received.values()) == 1, "a build was uploaded twice"
    expected = {
        b.id
        for b in sb.world.finished_builds()
        if b.job not in except_jobs and b.id not in except_builds
    }
    assert expected <= set(received), f"missing: {sorted(expected - set(received))[:5]}"
    assert set(received) <= set(finished_ids(sb)), "uploaded something that is no build"
    by_id = {b.id: b for b in sb.world.finished_builds()}
    for _repo, build in sb.recorder.received():
        src = by_id[build["originalID"]]
        assert build["name"] == src.job and build["startedAt"] == src.started
        assert build["url"].endswith(f"/view/gs/{src.bucket}/{src.path}")
    for job in sb.world.jobs:
        ids = set(read_tracker(tracker_dir, job.name))
        assert ids <= set(received), "tracked but never confirmed by Logilica"
        if job.name not in except_jobs:
            done = {b.id for b in job.builds if not b.running} - except_builds
            assert ids >= done, f"{job.name}: {sorted(done - ids)[:5]} not tracked"


# -- a CLI in the background, and waiting for it --------------------------------------------------

WAIT = 90.0  # bound on any single wait for progress or exit (a loaded 2-core machine)


class Cli:
    """`python -m crawler ARGS` running in the background; output goes to files, not pipes,
    so a chatty run can never block on a full pipe while the test waits."""

    _seq = 0

    def __init__(self, args: list[str], env: dict[str, str], workdir: Path) -> None:
        Cli._seq += 1
        self.out_path = workdir / f"cli-{Cli._seq}.out"
        self.err_path = workdir / f"cli-{Cli._seq}.err"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                cli_command(args),
                env=cli_env(env),
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float = WAIT) -> CliResult:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"CLI did not exit within {timeout} s:\n{self.stderr()[-3000:]}")
        return CliResult(code, self.out_path.read_text(errors="replace"), self.stderr())

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(WAIT)


def wait_until(cond: Callable[[], bool], what: str, cli: Cli | None = None) -> bool:
    """Poll `cond` (bounded); False if `cli` exited first (it finished before the moment)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if cond():
            return True
        if cli is not None and not cli.running():
            return cond()
        time.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


def settle(sb: Sandbox) -> None:
    """After a kill, let Logilica finish requests already in its hands (for exact figures only:
    the assertions hold either way)."""
    last, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        posts = sb.recorder.posts
        if posts != last:
            last, stable_since = posts, time.monotonic()
        elif time.monotonic() - stable_since > 0.4:
            return
        time.sleep(0.02)


def reads_total(sb: Sandbox) -> int:
    """Requests to deck and GCS so far."""
    return sb.deck_requests.total() + sb.gcs_requests.total()


def downloads(sb: Sandbox) -> int:
    """GCS object reads (media and metadata), not bucket listings."""
    counts = sb.gcs_requests.snapshot()
    return counts["media"] + counts["metadata"]


def received_total(sb: Sandbox) -> int:
    """Builds received by Logilica, each time counted."""
    return sum(sb.recorder.count_by_id().values())


def all_tracked(tracker_dir: Path) -> set[str]:
    """Every ID in the directory's tracker files (each checked by read_tracker)."""
    return set().union(*tracked_by_job(tracker_dir).values())


def assert_complete(sb: Sandbox, tracker_dir: Path) -> None:
    """Nothing lost: every finished build reached Logilica and is tracked under its job."""
    expected = finished_by_job(sb)
    received = set(sb.recorder.count_by_id())
    lost = set().union(*expected.values()) - received
    assert not lost, f"{len(lost)} finished builds never reached Logilica"
    trackers = tracked_by_job(tracker_dir)
    for job, ids in expected.items():
        assert trackers.get(job, set()) == ids, f"{job}: tracker differs from finished builds"


def duplicates(sb: Sandbox) -> dict[str, int]:
    """Builds Logilica received more than once: ID -> times."""
    return {k: n for k, n in sb.recorder.count_by_id().items() if n > 1}
