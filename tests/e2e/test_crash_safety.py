"""Crash safety end to end: the real CLI (subprocesses) killed, signalled, overlapped, stopped by
its deadline and failing for good, against the sandbox's real HTTP servers with latency.

What must hold whatever happens to a run: no finished build is ever lost, every tracker file
stays valid (whole lines of digits, no duplicates), every tracked build really reached
Logilica, and a build reaches Logilica twice only when a kill caught it between Logilica's 2xx
and the tracker write (at most logilica_concurrency x batch_size builds per kill).

Waiting is done by polling the sandbox (builds received, deck requests) or the CLI's output,
each with a generous bound; no assertion depends on how fast the machine is. Run with -s to
see the measured figures (duplicates per kill).
"""

from __future__ import annotations

import json
import random
import signal
import socket
import time
from pathlib import Path

import pytest

from crawler.sandbox import Faults, Sandbox, generated_world
from tests.conftest import CliResult, run_cli
from tests.e2e.conftest import (
    TOKEN,
    WRONG_TOKEN,
    Cli,
    all_tracked,
    assert_complete,
    crawl_args,
    crawler_args,
    downloads,
    duplicates,
    finished_by_job,
    reads_total,
    received_total,
    run_json,
    set_job_repo,
    settle,
    tracked_by_job,
    wait_until,
)

BATCH = 5
CONCURRENCY = 4
BOUND = CONCURRENCY * BATCH  # builds Logilica may have confirmed but no tracker yet records
# The whole backlog in small batches: at most BOUND builds in Logilica's hands at once.
BACKFILL = ("--limit", "0", "--batch-size", str(BATCH), "--logilica-concurrency", str(CONCURRENCY))
# -- 1. SIGKILL at random moments -----------------------------------------------------------------


def test_sigkill_at_random_moments_loses_nothing(tmp_path):
    rng = random.Random(20260730)
    world = generated_world(8, 40, running_per_job=1, seed=3)
    with Sandbox(world, token=TOKEN, faults=Faults(latency=rng.uniform(0.02, 0.05))) as sb:
        jobs, tdir = sb.write_jobs_yaml(tmp_path), tmp_path / "tracker"
        args = crawler_args(jobs, tdir, *BACKFILL)
        unrecorded_before: set[str] = set()
        per_kill: list[dict] = []
        for _ in range(12):
            if len(per_kill) >= 5:
                break
            cli = Cli(args, sb.env(), tmp_path)
            if not per_kill:
                # First kill during discovery and downloads, before or at the first uploads.
                reads = reads_total(sb) + rng.randint(1, 40)
                moment = f"deck+GCS requests >= {reads}"
                hit = wait_until(lambda r=reads: reads_total(sb) >= r, moment, cli)
            else:
                target = received_total(sb) + rng.randint(3, 50)
                moment = f"builds received >= {target}"
                hit = wait_until(lambda t=target: received_total(sb) >= t, moment, cli)
            if not hit:  # the run finished before the chosen moment
                assert cli.wait().code == 0
                break
            cli.kill()
            settle(sb)
            received = set(sb.recorder.count_by_id())
            tracked = all_tracked(tdir)
            assert tracked <= received, "a tracked build never reached Logilica"
            unrecorded = received - tracked
            new = unrecorded - unrecorded_before
            assert len(new) <= BOUND, f"kill at {moment}: {len(new)} builds confirmed, untracked"
            per_kill.append(
                {
                    "moment": moment,
                    "received": len(received),
                    "tracked": len(tracked),
                    "untracked": new,
                }
            )
            unrecorded_before = unrecorded
        assert len(per_kill) >= 4, "the backfill finished before four kills"
        final = Cli(args, sb.env(), tmp_path).wait()
        assert final.code == 0, final.output
        assert "Traceback" not in final.output
        assert_complete(sb, tdir)
        dups = duplicates(sb)
        assert set(dups) <= set().union(*(k["untracked"] for k in per_kill))
        assert max(dups.values(), default=1) <= 2
        assert sum(n - 1 for n in dups.values()) <= BOUND * len(per_kill)

        total = len(set().union(*finished_by_job(sb).values()))
        print(
            f"\nSIGKILL test: {total} finished builds, {len(per_kill)} kills, "
            f"bound {BOUND}/kill (logilica_concurrency {CONCURRENCY} x batch {BATCH})"
        )
        for i, k in enumerate(per_kill, 1):
            dup_here = len(k["untracked"] & set(dups))
            print(
                f"  kill {i} at {k['moment']}: received={k['received']} tracked={k['tracked']} "
                f"confirmed-but-untracked={len(k['untracked'])} -> duplicates={dup_here}"
            )
        print(f"  lost=0 duplicates total={sum(n - 1 for n in dups.values())}")


# -- 2. a torn tracker line, end to end -----------------------------------------------------------


def test_torn_tracker_line_is_repaired_and_the_missing_builds_uploaded(tmp_path):
    with Sandbox(generated_world(2, 25, seed=5), token=TOKEN) as sb:
        job = sb.world.jobs[0]
        done = sorted((b.id for b in job.builds if not b.running), key=int)
        tdir = tmp_path / "tracker"
        tdir.mkdir()
        torn = done[3][:7]
        (tdir / f"{job.name}.txt").write_text("".join(f"{i}\n" for i in done[:3]) + torn)
        res = run_cli(
            crawler_args(sb.write_jobs_yaml(tmp_path), tdir, *BACKFILL, "--job", job.name),
            env=sb.env(),
        )
        assert res.code == 0, res.output
        assert f"repaired job={job.name}" in res.output and repr(torn) in res.output
        assert tracked_by_job(tdir)[job.name] == set(done)
        counts = sb.recorder.count_by_id()
        assert set(counts) == set(done[3:]) and max(counts.values()) == 1


# -- 3. SIGINT / SIGTERM --------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_cleanly_and_the_next_run_completes(tmp_path, signum):
    with Sandbox(generated_world(6, 40, seed=7), token=TOKEN, faults=Faults(latency=0.03)) as sb:
        jobs, tdir = sb.write_jobs_yaml(tmp_path), tmp_path / "tracker"
        cli = Cli(crawler_args(jobs, tdir, *BACKFILL), sb.env(), tmp_path)
        assert wait_until(lambda: received_total(sb) >= 10, "first uploads", cli)
        cli.proc.send_signal(signum)
        res = cli.wait()
        name = signal.Signals(signum).name
        assert res.code == 128 + signum, res.output
        assert "total jobs=" in res.stdout and f"stopping ({name})" in res.stderr
        assert "Traceback" not in res.output
        received = set(sb.recorder.count_by_id())
        tracked = all_tracked(tdir)
        assert tracked <= received
        assert 0 < len(tracked) < len(set().union(*finished_by_job(sb).values()))
        untracked = received - tracked  # a clean stop records what Logilica confirmed
        assert len(untracked) <= BOUND
        res = Cli(crawler_args(jobs, tdir, *BACKFILL), sb.env(), tmp_path).wait()
        assert res.code == 0, res.output
        assert_complete(sb, tdir)
        print(
            f"\n{name}: exit {128 + signum}, tracked at stop={len(tracked)}, "
            f"confirmed-but-untracked={len(untracked)}, duplicates={len(duplicates(sb))}"
        )


def test_second_sigterm_exits_at_once_with_valid_trackers(tmp_path):
    # Slow Logilica: the graceful stop after the first SIGTERM takes a while.
    with Sandbox(generated_world(6, 40, seed=7), token=TOKEN, faults=Faults(latency=0.15)) as sb:
        jobs, tdir = sb.write_jobs_yaml(tmp_path), tmp_path / "tracker"
        cli = Cli(crawler_args(jobs, tdir, *BACKFILL), sb.env(), tmp_path)
        assert wait_until(lambda: received_total(sb) >= 5, "first uploads", cli)
        cli.proc.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        cli.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        res = cli.wait()
        took = time.monotonic() - sent
        assert res.code == 143, res.output
        assert took < 5, f"took {took:.1f} s to exit after the second SIGTERM"
        assert "second SIGTERM: exiting now" in res.stderr
        assert "Traceback" not in res.output
        settle(sb)
        tracked = all_tracked(tdir)
        assert tracked <= set(sb.recorder.count_by_id())
        res = Cli(crawler_args(jobs, tdir, *BACKFILL), sb.env(), tmp_path).wait()
        assert res.code == 0, res.output
        assert_complete(sb, tdir)
        print(f"\ndouble SIGTERM: exit 143 after {took:.2f} s, duplicates={len(duplicates(sb))}")


# -- 4. overlapping runs --------------------------------------------------------------------------


def _skipped(stderr: str) -> dict[str, str]:
    """The `skipped job=` lines of a run's stderr: job -> line."""
    out = {}
    for line in stderr.splitlines():
        if line.startswith("skipped job="):
            out[line.split()[1].removeprefix("job=").rstrip(":")] = line
    return out


def test_overlapping_runs_split_the_jobs_and_upload_nothing_twice(tmp_path):
    with Sandbox(generated_world(6, 30, seed=11), token=TOKEN, faults=Faults(latency=0.03)) as sb:
        jobs, tdir = sb.write_jobs_yaml(tmp_path), tmp_path / "tracker"
        first = Cli(crawler_args(jobs, tdir, *BACKFILL), sb.env(), tmp_path)
        second = Cli(crawler_args(jobs, tdir, *BACKFILL), sb.env(), tmp_path)
        results = [first.wait(), second.wait()]
        for res in results:
            assert res.code == 0, res.output
            assert "Traceback" not in res.output
        skips = [_skipped(r.stderr) for r in results]
        assert skips[0] or skips[1], "neither run met the other's locks"
        for res, skipped in zip(results, skips, strict=True):
            for job, line in skipped.items():
                assert "another prow-crawler run" in line
                assert f"summary job={job} status=locked" in res.stdout
        assert not set(skips[0]) & set(skips[1]), "a job was skipped by both runs"
        counts = sb.recorder.count_by_id()
        assert max(counts.values()) == 1, "a build was uploaded twice"
        assert_complete(sb, tdir)
        print(
            f"\noverlap: run A skipped {len(skips[0])} jobs, run B skipped {len(skips[1])}, "
            f"duplicates=0, exit codes {[r.code for r in results]}"
        )


def test_run_with_wait_lock_waits_then_finds_nothing_new(tmp_path):
    with Sandbox(generated_world(6, 30, seed=11), token=TOKEN, faults=Faults(latency=0.03)) as sb:
        jobs, tdir = sb.write_jobs_yaml(tmp_path), tmp_path / "tracker"
        first = Cli(crawler_args(jobs, tdir, *BACKFILL), sb.env(), tmp_path)
        n = len(sb.world.jobs)
        assert wait_until(
            lambda: first.stderr().count("discovered job=") == n,
            "the first run to lock every job",
            first,
        )
        second = Cli(
            crawler_args(jobs, tdir, *BACKFILL, "--wait-lock", "2m", "--json"), sb.env(), tmp_path
        )
        res = second.wait()
        assert not first.running(), "the waiting run finished before the lock holder"
        assert first.wait().code == 0
        assert res.code == 0, res.output
        summary = json.loads(res.stdout)
        assert summary["totals"]["uploaded"] == 0 and summary["totals"]["new"] == 0
        assert all(j["status"] == "ok" for j in summary["jobs"])
        assert "skipped job=" not in res.stderr
        assert max(sb.recorder.count_by_id().values()) == 1
        assert_complete(sb, tdir)


# -- 5. --deadline --------------------------------------------------------------------------------


def test_deadline_stops_cleanly_and_a_later_run_completes(tmp_path):
    with Sandbox(generated_world(6, 40, seed=19), token=TOKEN, faults=Faults(latency=0.05)) as sb:
        jobs, tdir = sb.write_jobs_yaml(tmp_path), tmp_path / "tracker"
        res = Cli(
            crawler_args(jobs, tdir, *BACKFILL, "--deadline", "2s", "--json"), sb.env(), tmp_path
        ).wait()
        assert res.code in (0, 1), res.output
        assert "Traceback" not in res.output
        summary = json.loads(res.stdout)
        assert summary["stopped"] == "deadline reached"
        assert "stopping (deadline reached)" in res.stderr
        total = len(set().union(*finished_by_job(sb).values()))
        # 240 builds in POSTs of 5 at 10 requests/s need more than 2 s: the deadline cut it.
        assert summary["totals"]["uploaded"] < total
        tracked = all_tracked(tdir)
        assert tracked <= set(sb.recorder.count_by_id())
        assert summary["totals"]["uploaded"] == len(tracked)
        res = Cli(crawler_args(jobs, tdir, *BACKFILL), sb.env(), tmp_path).wait()
        assert res.code == 0, res.output
        assert_complete(sb, tdir)
        print(
            f"\ndeadline: exit {summary['exit_code']}, uploaded {len(tracked)}/{total} "
            f"before the deadline, duplicates={len(duplicates(sb))}"
        )


# -- 6. permanent failures ------------------------------------------------------------------------


def _failures(tdir: Path, job: str) -> dict[str, dict]:
    """A job's failures file: build ID -> its record."""
    return json.loads((tdir / f"{job}.failures.json").read_text())


@pytest.mark.parametrize("mode", ["unknown_repo", "reject_repos"])
def test_permanent_failures_are_given_up_after_three_runs(tmp_path, mode):
    world = generated_world(3, 50, seed=13)  # 50 builds: three history pages per job
    bad = world.jobs[1]
    assert all(j.repo != bad.repo for j in world.jobs if j is not bad)
    faults = Faults(reject_repos=frozenset({bad.repo}) if mode == "reject_repos" else frozenset())
    with Sandbox(world, token=TOKEN, faults=faults) as sb:
        jobs, tdir = sb.write_jobs_yaml(tmp_path), tmp_path / "tracker"
        reason = "HTTP 422"
        if mode == "unknown_repo":
            set_job_repo(sb, jobs, bad.name, "nobody/unknown")
            reason = "repository nobody/unknown is not known to Logilica"
        bad_ids = finished_by_job(sb)[bad.name]

        def run(*extra: str) -> dict:
            # A 4xx batch is retried build by build: let those POSTs go out quickly.
            summary = run_json(
                sb, tmp_path, *BACKFILL, "--logilica-rps", "100", *extra, expect=None
            )
            summary["_job"] = next(j for j in summary["jobs"] if j["name"] == bad.name)
            return summary

        for attempt in (1, 2, 3):
            reads = reads_total(sb)
            s = run()
            reads = reads_total(sb) - reads
            assert s["exit_code"] == 1, s["_output"]
            assert s["_job"]["failed"] == len(bad_ids) and s["_job"]["uploaded"] == 0
            assert reason in s["_output"]
            assert f"attempt {attempt}/3" in s["_output"]
            failures = _failures(tdir, bad.name)
            assert set(failures) == bad_ids
            assert {f["attempts"] for f in failures.values()} == {attempt}
            assert all(reason in f["reason"] for f in failures.values())

        gcs, total, posts = downloads(sb), reads_total(sb), sb.recorder.posts
        s = fourth_run = run()
        assert s["exit_code"] == 0, s["_output"]
        assert s["totals"]["given_up"] > 0 and s["_job"]["given_up"] > 0
        assert s["_job"]["failed"] == 0 and s["_job"]["new"] == 0
        assert downloads(sb) == gcs, "given-up builds were downloaded again"
        assert sb.recorder.posts == posts
        # The walk (deck pages, or the bucket listing) stops early: a request or two per job.
        fourth = reads_total(sb) - total
        assert fourth <= 2 * len(sb.world.jobs) < reads, (fourth, reads)
        assert {f["attempts"] for f in _failures(tdir, bad.name).values()} == {3}

        res = run_cli(crawler_args(jobs, tdir, command="status"))
        assert res.code == 0, res.output
        assert f"{bad.name}: tracked=0 newest=- failed={len(bad_ids)}" in res.stdout
        for build_id in bad_ids:
            line = next(ln for ln in res.stdout.splitlines() if f"build={build_id} " in ln)
            assert "attempts=3 (given up; --retry-failed retries it)" in line and reason in line

        s = run("--retry-failed")
        assert s["exit_code"] == 1 and s["_job"]["failed"] == len(bad_ids)
        assert downloads(sb) > gcs
        assert {f["attempts"] for f in _failures(tdir, bad.name).values()} == {4}
        print(
            f"\n{mode}: given up after 3 runs; "
            f"4th run given_up={fourth_run['totals']['given_up']}, "
            f"deck+GCS requests {reads} (3rd run) -> {fourth} (4th), GCS downloads +0"
        )


# -- 7. the token never shows ---------------------------------------------------------------------


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _assert_no_secret(text: str, where: str) -> None:
    """Neither token, nor any 12 characters of one, is in `text`."""
    for secret in (TOKEN, WRONG_TOKEN):
        # Any 12 characters of it: a message cut short must not show a piece of it either.
        for i in range(len(secret) - 11):
            assert secret[i : i + 12] not in text, (
                f"part of a token in {where}: {secret[i : i + 12]}"
            )


def test_token_never_appears_in_output_or_files(tmp_path):
    outputs: dict[str, str] = {}

    def record(name: str, res: CliResult, codes: tuple[int, ...]) -> CliResult:
        assert res.code in codes, f"{name}: {res.output}"
        assert "Traceback" not in res.output, f"{name}: {res.output}"
        outputs[name] = res.output
        return res

    world = generated_world(3, 20, running_per_job=1, seed=17)
    down = Faults(error_rate=1.0, error_services=frozenset({"logilica"}), echo_headers=True)
    with Sandbox(world, token=TOKEN) as sb, Sandbox(world, token=TOKEN, faults=down) as sb500:
        jobs = sb.write_jobs_yaml(tmp_path)
        env = sb.env()
        # The slow ones (7 tries with backoff) run in the background meanwhile.
        refused_url = f"http://127.0.0.1:{_closed_port()}/api/import/v1"
        slow = {
            "connection refused": Cli(
                crawler_args(jobs, tmp_path / "t-refused", *BACKFILL, "--verbose"),
                {**env, "LOGILICA_API_URL": refused_url},
                tmp_path,
            ),
            "logilica 503 until giving up": Cli(
                crawler_args(
                    sb500.write_jobs_yaml(tmp_path / "jobs500.yaml"),
                    tmp_path / "t-500",
                    *BACKFILL,
                    "--verbose",
                    "--json",
                ),
                sb500.env(),
                tmp_path,
            ),
        }

        def run(name: str, args: list[str], codes=(0,), env=env) -> CliResult:
            return record(name, run_cli(args, env=env), codes)

        tdir = tmp_path / "t-main"
        run("dry run", [*crawler_args(jobs, tdir, *BACKFILL, "--dry-run", "--verbose")])
        run("run --verbose", [*crawler_args(jobs, tdir, *BACKFILL, "--verbose"), "--limit", "3"])
        run("run --json", [*crawler_args(jobs, tdir, *BACKFILL, "--json"), "--limit", "3"])
        run("run", crawler_args(jobs, tdir, *BACKFILL))
        job = sb.world.jobs[0]
        run("crawl", crawl_args(sb, job, tmp_path / "t-crawl", "--limit", "0", "--verbose"))
        run("status", ["status", "--jobs", str(jobs), "--tracker-dir", str(tdir)])
        run("validate", ["validate", "--jobs", str(jobs)])
        wrong = {**env, "LOGILICA_TOKEN": WRONG_TOKEN}
        res = run(
            "wrong token",
            crawler_args(jobs, tmp_path / "t-401", *BACKFILL, "--verbose", "--json"),
            codes=(1,),
            env=wrong,
        )
        assert "HTTP 401" in res.output

        # A Logilica that echoes the request's headers (token included) in its error bodies.
        sb.faults.echo_headers = True
        sb.faults.reject_repos = frozenset({job.repo})
        res = run(
            "echoed headers",
            crawler_args(jobs, tmp_path / "t-echo", *BACKFILL, "--verbose"),
            codes=(1,),
        )
        assert "HTTP 422" in res.output and "request_headers" in res.output
        sb.faults.reject_repos = frozenset()
        run(
            "wrong token, echoed",
            crawler_args(jobs, tmp_path / "t-401e", *BACKFILL, "--json"),
            codes=(1,),
            env=wrong,
        )

        # Ctrl-C in the middle of a run.
        sb.faults.latency = 0.05
        cli = Cli(crawler_args(jobs, tmp_path / "t-int", *BACKFILL, "--verbose"), env, tmp_path)
        before = received_total(sb)
        assert wait_until(lambda: received_total(sb) > before, "uploads", cli)
        cli.proc.send_signal(signal.SIGINT)
        record("Ctrl-C", cli.wait(), (130,))

        for name, cli in slow.items():
            res = record(name, cli.wait(120), (1,))
            assert "cannot list Logilica repositories" in res.output, res.output

    for name, text in outputs.items():
        _assert_no_secret(text, name)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".failures.json") for p in files)
    for path in files:  # trackers, failures files, locks, the CLI outputs once more
        _assert_no_secret(path.read_text(errors="replace"), str(path.relative_to(tmp_path)))
