"""Nothing lost, nothing doubled: the real CLI against a sandbox that misbehaves.

Transient faults (5xx, 429/503 bursts with Retry-After, connection resets, slow answers,
truncated or malformed bodies) must end with every finished build uploaded exactly once;
permanent ones (a 100 MB finished.json, a page without allBuilds, a redirect to another host)
must fail only what they touch, with a message that says why.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.sandbox import Faults, Sandbox, generated_world
from tests.conftest import CliResult, run_cli
from tests.e2e.conftest import (
    FAST,
    TOKEN,
    assert_exactly_once,
    read_tracker,
    run_crawler,
)


def backfill(sb: Sandbox, tmp: Path, *args: str, max_runs: int = 2) -> list[dict]:
    """`run --limit 0 --json` until a run succeeds (at most max_runs); the summaries.

    Each run's failure lines are printed: pytest shows them when a later assertion fails,
    which is what a build missing after every run needs to be diagnosed."""
    summaries = []
    for run in range(1, max_runs + 1):
        res = run_crawler(sb, tmp, "--limit", "0", "--json", *args)
        for line in res.output.splitlines():
            if line.startswith(("failed ", "error ", "discovery ")):
                print(f"run {run}: {line}")
        assert "Traceback" not in res.output, res.output
        assert res.code in (0, 1), res.output
        summaries.append(json.loads(res.stdout))
        if res.code == 0:
            break
    return summaries


def assert_job_fails_alone(sb: Sandbox, tmp: Path, job: str, message: str) -> None:
    """A deck-walk run in which `job` fails with `message` and every other job is complete."""
    res = run_crawler(sb, tmp, "--limit", "0", "--discovery", "deck")
    assert res.code == 1, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith(f"failed job={job}:")]
    assert errors and message in errors[0], res.output
    assert_exactly_once(sb, tmp / "tracker", except_jobs=frozenset({job}))


# --- the spec ---------------------------------------------------------------------------------


def test_fault_spec_parses_every_key():
    f = Faults.parse(
        " error_rate=0.1, burst429=50x3,reset_rate=0.02,latency=0.05,retry_after=2,"
        "gcs:burst503=7x1,logilica:error_rate=0.5,truncate_rate=0.1,corrupt=a/b.json+c.json,"
        "huge=logs/j/1/finished.json,huge_size=5M,page_padding=64K,padding_jobs=j,"
        "redirect=http://evil.invalid/,redirect_jobs=j+k,services=deck+gcs,slow=2,seed=9,"
        "retry_after_form=date,hostile=j,deny_list=b1+b2,moved=j,no_prowjob=k,unlisted=j+k,,"
    )
    assert (f.error_rate, f.burst_every, f.burst_len, f.burst_status) == (0.1, 50, 3, 429)
    assert (f.reset_rate, f.latency, f.retry_after, f.seed) == (0.02, 0.05, 2, 9)
    assert f.get("gcs", "burst_every") == 7 and f.get("gcs", "burst_status") == 503
    assert f.get("deck", "burst_every") == 50
    assert f.get("logilica", "error_rate") == 0.5 and f.get("deck", "error_rate") == 0.1
    assert f.corrupt_objects == {"a/b.json", "c.json"} and f.huge_size == 5 * 2**20
    assert f.page_padding == 64 * 1024 and f.redirect_to == "http://evil.invalid"
    assert f.redirect_jobs == {"j", "k"} and f.error_services == {"deck", "gcs"}
    assert f.slow_delay == 2.0 and f.retry_after_form == "date" and f.hostile_jobs == {"j"}
    assert f.deny_list_buckets == {"b1", "b2"} and f.moved_jobs == {"j"}
    assert f.no_prowjob_jobs == {"k"} and f.unlisted_jobs == {"j", "k"}
    assert Faults.parse("") == Faults()


@pytest.mark.parametrize(
    ("spec", "phrase"),
    [
        ("error_rate", "is not KEY=VALUE"),
        ("=1", "is not KEY=VALUE"),
        ("colour=red", "unknown key 'colour'"),
        ("error_rate=1.5", "between 0 and 1"),
        ("error_rate=abc", "is not a number"),
        ("error_rate=nan", "finite"),
        ("latency=-1", "must not be negative"),
        ("burst429=50", "expected NxK"),
        ("burst429=0x3", "at least 1"),
        ("burst429=5xk", "not a whole number"),
        ("services=deck+ftp", "unknown ftp"),
        ("mars:error_rate=0.1", "unknown service 'mars'"),
        ("gcs:corrupt=x", "cannot be set for one service"),
        ("retry_after_form=soon", "one of seconds, date, both"),
        ("redirect=evil.invalid", "http(s) URL"),
        ("huge_size=12Q", "not a whole number"),
    ],
)
def test_bad_fault_specs_are_refused_clearly(spec, phrase):
    with pytest.raises(ValueError, match="fault spec item") as err:
        Faults.parse(spec)
    assert phrase in str(err.value)


def test_demo_refuses_a_bad_fault_spec():
    res = run_cli(["demo", "--faults", "burst429=fifty"])
    assert res.code == 2
    assert "--faults" in res.stderr and "burst429=fifty" in res.stderr


# --- everything at once ---------------------------------------------------------------------


@pytest.mark.parametrize("discovery", ["auto", "deck"])
def test_chaos_backfill_uploads_everything_once(tmp_path, discovery):
    """auto discovery lists the bucket for a backfill; deck walks the history pages."""
    faults = Faults.parse(
        "error_rate=0.1,reset_rate=0.02,truncate_rate=0.02,retry_after=1,seed=5,"
        "deck:burst429=10x2,gcs:burst429=250x2,logilica:burst503=12x2"
    )
    world = generated_world(8, 40, running_per_job=1, seed=3)
    with Sandbox(world, token=TOKEN, faults=faults) as sb:
        # Small batches: many POSTs, so Logilica's faults are met as often as the others'.
        summaries = backfill(sb, tmp_path, "--discovery", discovery, "--batch-size", "5")
        injected = faults.injected()
        assert_exactly_once(sb, tmp_path / "tracker")
        assert TOKEN not in json.dumps(summaries)
    retries = [s["retries"] for s in summaries]
    print(
        f"\nchaos backfill ({discovery}): {len(world.finished_builds())} finished builds, "
        f"{len(summaries)} run(s), retries per run {retries}, "
        f"uploaded per run {[s['totals']['uploaded'] for s in summaries]}, "
        f"faults injected {dict(injected)}"
    )
    # Every kind of fault asked for actually happened, on each service.
    assert injected["error"] and injected["reset"] and injected["truncated"]
    assert injected["burst429"] and injected["burst503"]
    services = {h.service for h in faults.hits() if h.fault == "error"}
    assert services == ({"deck", "gcs", "logilica"} if discovery == "deck" else services)
    assert sum(retries) >= sum(injected.values()) // 2


# --- one transient fault at a time: retried, then uploaded ----------------------------------


@pytest.mark.parametrize(
    ("spec", "fault", "args"),
    [
        ("error_rate=0.2", "error", ()),
        (
            "deck:burst429=6x2,gcs:burst429=150x3,logilica:burst429=8x2,retry_after_form=seconds",
            "burst429",
            ("--discovery", "deck"),
        ),
        (
            "deck:burst503=8x1,gcs:burst503=200x2,logilica:burst503=10x1,retry_after_form=date",
            "burst503",
            ("--discovery", "deck"),
        ),
        ("reset_rate=0.1", "reset", ()),
        ("slow_rate=0.03,slow=3", "slow", ("--timeout", "1")),
        ("truncate_rate=0.1", "truncated", ()),
        ("malformed_rate=0.1", "malformed", ()),
        ("gzip_rate=0.3", "corrupt-gzip", ()),
        ("page_missing_rate=0.15", "page-missing", ("--discovery", "deck")),
        ("page_garbled_rate=0.15", "page-garbled", ("--discovery", "deck")),
    ],
)
def test_transient_fault_is_retried_and_everything_uploaded(tmp_path, spec, fault, args):
    faults = Faults.parse(spec + ",seed=11")
    with Sandbox(token=TOKEN, faults=faults) as sb:
        summaries = backfill(sb, tmp_path, *args)
        assert faults.injected()[fault] > 0, f"{fault} never injected"
        assert_exactly_once(sb, tmp_path / "tracker")
    print(f"\n{spec}: {len(summaries)} run(s), retries {[s['retries'] for s in summaries]}")
    assert summaries[0]["retries"] > 0


def test_retry_after_pauses_every_request_to_the_host(tmp_path):
    """A 429 for one GCS object holds back the requests for all the others (server clock)."""
    faults = Faults.parse("gcs:burst429=100x1,retry_after=1,retry_after_form=both")
    with Sandbox(token=TOKEN, faults=faults) as sb:
        summaries = backfill(sb, tmp_path, "--gcs-concurrency", "4", max_runs=1)
        hits = faults.hits("gcs")
        assert_exactly_once(sb, tmp_path / "tracker")
    refusals = [h for h in hits if h.fault == "burst429"]
    assert len(refusals) >= 2, "both Retry-After forms were used"
    for refused in refusals:
        # Requests already on their way may land just after the 429; after that, silence
        # until the Retry-After second has passed.
        quiet = [h for h in hits if refused.at + 0.25 < h.at < refused.at + 0.9]
        assert quiet == [], f"requests during the pause: {quiet[:3]}"
        assert any(h.at >= refused.at + 0.95 for h in hits) or refused is refusals[-1]
    assert summaries[0]["retries"] >= len(refusals)


# --- permanent faults: only what they touch fails, and says why -----------------------------


def _run_measured(sb: Sandbox, tmp: Path, *args: str) -> tuple[CliResult, int]:
    """The CLI's exit status and output, and its peak RSS in bytes."""
    res = run_crawler(sb, tmp, *args)
    # The crawler reports its own peak (VmHWM) in --json: the child's ru_maxrss would include
    # the size of this pytest process, which the child had until it exec'd.
    peak = json.loads(res.stdout)["peak_rss_mb"] * 2**20
    return res, int(peak)


def test_huge_finished_json_is_refused_by_its_size_cap(tmp_path):
    faults = Faults()
    with Sandbox(token=TOKEN, faults=faults) as sb:
        job = sb.world.jobs[1]
        victim = next(b for b in job.builds if not b.running)
        name = f"{victim.path}/finished.json"
        faults.huge_objects = frozenset({name})
        res, peak = _run_measured(sb, tmp_path, "--limit", "0", "--json")
        sent = faults.huge_sent[name]
        assert res.code == 1, res.output
        failed = [ln for ln in res.output.splitlines() if f"build={victim.id}" in ln]
        assert failed and "byte cap" in failed[0] and "8388608" in failed[0], failed
        assert_exactly_once(sb, tmp_path / "tracker", except_builds=frozenset({victim.id}))
        assert victim.id not in sb.recorder.count_by_id()
    print(
        f"\n100 MB finished.json: crawler peak RSS {peak / 2**20:.0f} MiB, "
        f"sandbox sent {sent / 2**20:.1f} MiB of {faults.huge_size / 2**20:.0f} MiB"
    )
    assert peak < 200 * 2**20
    # A permanent failure is not retried: the object was read about once, never whole.
    assert sent < 40 * 2**20


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("page_missing_jobs", "no 'var allBuilds = ' in the page"),
        ("page_garbled_jobs", "allBuilds is not valid JSON"),
    ],
)
def test_job_whose_page_has_no_build_list_fails_alone(tmp_path, field, message):
    faults = Faults()
    with Sandbox(token=TOKEN, faults=faults) as sb:
        broken = sb.world.jobs[2].name
        setattr(faults, field, frozenset({broken}))
        assert_job_fails_alone(sb, tmp_path, broken, message)
        assert not any(b["name"] == broken for _, b in sb.recorder.received())
        assert read_tracker(tmp_path / "tracker", broken) == []
        # The broken page was fetched three times (a body cut in transit gets two more tries).
        pages = [h for h in faults.hits("deck") if broken in h.path]
        assert len(pages) == 3


def test_multi_megabyte_page_still_parses(tmp_path):
    faults = Faults(page_padding=6 * 2**20)
    with Sandbox(token=TOKEN, faults=faults) as sb:
        res = run_crawler(sb, tmp_path, "--limit", "0", "--discovery", "deck")
        assert res.code == 0, res.output
        assert_exactly_once(sb, tmp_path / "tracker")


def test_page_over_the_cap_fails_its_job(tmp_path):
    faults = Faults(page_padding=17 * 2**20)
    with Sandbox(token=TOKEN, faults=faults) as sb:
        big = sb.world.jobs[0].name
        faults.padding_jobs = frozenset({big})
        assert_job_fails_alone(sb, tmp_path, big, "16777216-byte cap")


@pytest.mark.parametrize(
    ("gzipped", "fault", "message"),
    [(False, "malformed", "not valid JSON"), (True, "corrupt-gzip", "corrupt gzip data")],
)
def test_permanently_corrupt_object_fails_its_build_after_three_reads(
    tmp_path, gzipped, fault, message
):
    faults = Faults()
    with Sandbox(token=TOKEN, faults=faults) as sb:
        victim = next(
            b for b in sb.world.finished_builds() if ("finished.json" in b.gzip_files) == gzipped
        )
        faults.corrupt_objects = frozenset({f"{victim.path}/finished.json"})
        res = run_crawler(sb, tmp_path, "--limit", "0")
        assert res.code == 1, res.output
        failed = [ln for ln in res.output.splitlines() if f"build={victim.id}" in ln]
        assert failed and message in failed[0] and "failed for good" in failed[0], res.output
        reads = [h for h in faults.hits("gcs") if h.fault == fault]
        assert len(reads) == 3
        assert_exactly_once(sb, tmp_path / "tracker", except_builds=frozenset({victim.id}))


class _Witness:
    """A second HTTP server, on another host, that records whatever reaches it."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        witness = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                witness.requests.append((self.path, dict(self.headers)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"[]")

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        try:
            self.server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        except OSError:  # no 127.0.0.2 here: another port is another host too
            self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        host, port = self.server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def witness() -> Iterator[_Witness]:
    """A _Witness for one test."""
    w = _Witness()
    yield w
    w.close()


def test_deck_redirect_to_another_host_fails_the_job(tmp_path, witness):
    faults = Faults(redirect_to=witness.url)
    with Sandbox(token=TOKEN, faults=faults) as sb:
        moved = sb.world.jobs[4].name
        faults.redirect_jobs = frozenset({moved})
        assert_job_fails_alone(sb, tmp_path, moved, "redirected to another host")
    assert witness.requests == []


def test_logilica_redirect_never_carries_the_token_away(tmp_path, witness):
    faults = Faults(redirect_to=witness.url, redirect_services=frozenset({"logilica"}))
    with Sandbox(token=TOKEN, faults=faults) as sb:
        res = run_crawler(sb, tmp_path, "--limit", "0")
        assert res.code == 1, res.output
        assert "redirected to another host" in res.output
        assert sb.recorder.received() == []
    assert witness.requests == []
    assert not any("x-lgca-token" in {k.lower() for k in h} for _, h in witness.requests)
    assert TOKEN not in res.output


def test_hostile_page_entries_neither_crash_nor_upload_anything_wrong(tmp_path):
    faults = Faults()
    with Sandbox(token=TOKEN, faults=faults) as sb:
        hostile = sb.world.jobs[2].name
        faults.hostile_jobs = frozenset({hostile})
        first = run_crawler(sb, tmp_path, "--limit", "0", "--discovery", "deck")
        second = run_crawler(sb, tmp_path, "--limit", "0")  # auto: walks deck once up to date
        assert faults.injected()["hostile"] >= 2
        for res in (first, second):
            assert "Traceback" not in res.output, res.output
            # The unusable entries are reported (so the run says something is wrong)...
            assert res.code == 1, res.output
            assert "page entry ID is not a decimal number" in res.output
            assert "does not name this build" in res.output
        # ...and everything real is uploaded once, exactly as GCS describes it.
        assert_exactly_once(sb, tmp_path / "tracker")
        assert TOKEN not in first.output + second.output


# --- the demo ---------------------------------------------------------------------------------


def test_demo_with_faults_succeeds():
    res = run_cli(["demo", "--faults", "error_rate=0.1"], env=FAST, timeout=300)
    assert res.code == 0, res.output
    assert "demo OK" in res.stdout
