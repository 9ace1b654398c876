"""Prometheus metrics of a real run against the sandbox: the file parses with the reference
parser and agrees with the trackers and the run; a Pushgateway receives the same samples;
`status` writes the job gauges from the files alone."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from crawler.output.metrics import METRICS
from crawler.sandbox import Faults, Sandbox
from tests.conftest import run_cli
from tests.e2e.conftest import (
    TOKEN,
    crawler_args,
    read_tracker,
    run_crawler,
    run_json,
)

PERIODIC = "periodic-ci-codeready-toolchain-toolchain-e2e-master-ci-daily"
TYPO = PERIODIC + "-nightly"
SMALL_IDS = 1 << 40  # pre-2018 build IDs are counters, not snowflakes

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Series:
    """Every sample: (name, sorted labels) -> value, via prometheus-client's own parser."""
    out: Series = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(series: Series, name: str, **labels: str) -> float:
    return series[(name, tuple(sorted(labels.items())))]


def with_typo_job(sb: Sandbox, tmp: Path) -> None:
    """Every sandbox job, plus one whose name is mistyped (deck: 'failed to locate')."""
    urls = sb.job_urls()
    jobs = [{"url": u} for u in urls.values()] + [{"url": urls[PERIODIC].replace(PERIODIC, TYPO)}]
    sb.write_jobs_yaml(tmp / "jobs.yaml", extra={"jobs": jobs})


class FakePushgateway:
    """Records each push (method, path, body) on 127.0.0.1, answering like a Pushgateway."""

    def __init__(self, status: int = 200) -> None:
        self.pushes: list[tuple[str, str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.pushes.append(("PUT", self.path, body.decode()))
                self.send_response(status)
                self.end_headers()

            do_POST = do_PUT

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakePushgateway:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pushgateway() -> Iterator[FakePushgateway]:
    with FakePushgateway() as pg:
        yield pg


def test_metrics_file_agrees_with_trackers_and_run_with_a_failing_job_and_a_backlog(
    sandbox, tmp_path
):
    with_typo_job(sandbox, tmp_path)
    prom = tmp_path / "out" / "crawler.prom"
    prom.parent.mkdir()
    began = time.time()
    summary = run_json(sandbox, tmp_path, "--limit", "2", "--metrics-file", str(prom), expect=1)
    # No temporary file left; the lock file beside it is not read by the textfile collector.
    assert sorted(p.name for p in prom.parent.iterdir()) == ["crawler.prom", "crawler.prom.lock"]
    text = prom.read_text()
    assert TOKEN not in text
    series = parse(text)
    assert {name for name, _ in series} <= set(METRICS)

    assert value(series, "prow_crawler_last_run_success") == 0
    assert began <= value(series, "prow_crawler_last_run_timestamp_seconds") <= time.time()
    assert value(series, "prow_crawler_run_duration_seconds") == pytest.approx(
        summary["seconds"], abs=0.01
    )
    assert value(series, "prow_crawler_run_stopped") == 0
    for service, count in summary["requests"].items():
        assert value(series, "prow_crawler_requests", service=service) == count
        retries = summary["retries_by_service"][service]
        assert value(series, "prow_crawler_retries", service=service) == retries

    backlogs = 0
    for job in summary["jobs"]:
        name = job["name"]
        for outcome in ("uploaded", "failed", "running", "deferred"):
            got = value(series, "prow_crawler_run_builds", job=name, outcome=outcome)
            assert got == job[outcome], (name, outcome)
        assert value(series, "prow_crawler_job_success", job=name) == (job["status"] == "ok")
        tracked = read_tracker(tmp_path / "tracker", name)
        assert value(series, "prow_crawler_job_tracked_builds", job=name) == len(tracked)
        assert value(series, "prow_crawler_job_backlog_builds", job=name) == job["backlog"]
        lag = value(series, "prow_crawler_job_lag_seconds", job=name)
        if name == TYPO:
            assert job["status"] == "failed" and not tracked
            assert ("prow_crawler_job_newest_build_timestamp_seconds", (("job", name),)) not in (
                series
            )
            continue
        backlogs += job["backlog"]
        # --limit 2 uploads the oldest two; Logilica lacks the newer ones, so the job is
        # stale from the oldest of those.
        assert (lag > 0) == (job["backlog"] > 0), (name, lag, job["backlog"])
        newest = max(map(int, tracked))
        if newest > SMALL_IDS:  # a snowflake: its start is in the ID
            started = ((newest >> 22) + 1288834974657) / 1000
        else:  # an old small ID: the start written in its started.json
            started = next(b.started for b in sandbox.world.job(name).builds if b.id == str(newest))
        got = value(series, "prow_crawler_job_newest_build_timestamp_seconds", job=name)
        assert got == pytest.approx(started, abs=0.001), name
    assert backlogs > 0  # the limit left work behind, and the gauges show it


def test_a_successful_run_records_its_success_and_zero_lag(sandbox, tmp_path):
    prom = tmp_path / "m.prom"
    summary = run_json(sandbox, tmp_path, "--limit", "0", "--metrics-file", str(prom))
    series = parse(prom.read_text())
    assert value(series, "prow_crawler_last_run_success") == 1
    last = value(series, "prow_crawler_last_success_timestamp_seconds")
    assert last == pytest.approx(value(series, "prow_crawler_last_run_timestamp_seconds"), abs=1)
    for job in summary["jobs"]:
        assert value(series, "prow_crawler_job_lag_seconds", job=job["name"]) == 0
        assert value(series, "prow_crawler_job_backlog_builds", job=job["name"]) == 0
    # A later failed run keeps reporting when the last success was.
    with_typo_job(sandbox, tmp_path)
    run_json(sandbox, tmp_path, "--metrics-file", str(prom), expect=1)
    series = parse(prom.read_text())
    assert value(series, "prow_crawler_last_run_success") == 0
    assert value(series, "prow_crawler_last_success_timestamp_seconds") == last


def test_the_jobs_file_output_section_and_the_flag_beats_it(sandbox, tmp_path):
    from_file, from_flag = tmp_path / "file.prom", tmp_path / "flag.prom"
    sandbox.write_jobs_yaml(
        tmp_path / "jobs.yaml", extra={"output": {"metrics_file": str(from_file)}}
    )
    assert run_crawler(sandbox, tmp_path, "--limit", "1").code == 0
    assert from_file.exists() and not from_flag.exists()
    from_file.unlink()
    res = run_crawler(sandbox, tmp_path, "--limit", "1", "--metrics-file", str(from_flag))
    assert res.code == 0, res.output
    assert from_flag.exists() and not from_file.exists()


def test_a_stopped_run_still_writes_its_metrics(tmp_path):
    with Sandbox(token=TOKEN, faults=Faults(latency=0.2)) as sb:  # the deadline comes first
        prom = tmp_path / "m.prom"
        res = run_crawler(sb, tmp_path, "--deadline", "1s", "--metrics-file", str(prom))
    series = parse(prom.read_text())
    assert "stopping (deadline reached)" in res.stderr
    assert value(series, "prow_crawler_run_stopped") == 1
    assert value(series, "prow_crawler_last_run_success") == (res.code == 0)


def test_push_carries_the_same_samples_under_job_prow_crawler(sandbox, tmp_path, pushgateway):
    prom = tmp_path / "m.prom"
    with_typo_job(sandbox, tmp_path)
    args = ("--limit", "2", "--metrics-file", str(prom), "--pushgateway", pushgateway.url)
    res = run_crawler(sandbox, tmp_path, *args)
    assert res.code == 1, res.output  # the typo job fails; the push does not change that
    [(method, path, body)] = pushgateway.pushes
    assert (method, path) == ("PUT", "/metrics/job/prow_crawler/instance/all")
    # The same samples; the Prow job travels as exported_job (a Pushgateway overwrites `job`).
    pushed = {
        (name, tuple(sorted(("job" if k == "exported_job" else k, v) for k, v in labels))): v
        for (name, labels), v in parse(body).items()
    }
    assert pushed == parse(prom.read_text())
    assert any(dict(labels).get("exported_job") == TYPO for _, labels in parse(body))


def test_a_shard_pushes_as_its_own_instance(sandbox, tmp_path, pushgateway):
    res = run_crawler(sandbox, tmp_path, "--shard", "1/2", "--pushgateway", pushgateway.url)
    assert res.code == 0, res.output
    [(_, path, _)] = pushgateway.pushes
    # A grouping value with a slash goes base64-encoded (the Pushgateway's URL rule).
    encoded = base64.urlsafe_b64encode(b"1/2").decode()
    assert path == f"/metrics/job/prow_crawler/instance@base64/{encoded}"


def test_a_failed_push_is_reported_and_does_not_change_the_exit_status(sandbox, tmp_path):
    with FakePushgateway(status=500) as pg:
        res = run_crawler(sandbox, tmp_path, "--limit", "1", "--pushgateway", pg.url)
    assert res.code == 0, res.output
    assert f"metrics: push to {pg.url} failed" in res.stderr
    # Nobody listens here any more: refused, reported, exit unchanged.
    res = run_crawler(sandbox, tmp_path, "--limit", "1", "--pushgateway", pg.url)
    assert res.code == 0 and "metrics: push to" in res.stderr


def test_status_writes_the_job_gauges_from_the_files_alone(sandbox, tmp_path):
    prom = tmp_path / "m.prom"
    assert run_crawler(sandbox, tmp_path, "--limit", "2", "--metrics-file", str(prom)).code == 0
    after_run = parse(prom.read_text())
    jobs, tdir = tmp_path / "jobs.yaml", tmp_path / "tracker"
    requests = sandbox.deck_requests.total()
    # No sandbox environment, no token: the files alone.
    res = run_cli(crawler_args(jobs, tdir, "--metrics-file", str(prom), command="status"))
    assert res.code == 0, res.output
    assert sandbox.deck_requests.total() == requests
    refreshed = parse(prom.read_text())
    assert set(refreshed) == set(after_run)  # job gauges refreshed, the run's kept
    for key, got in refreshed.items():
        if key[0] == "prow_crawler_job_lag_seconds" and got > 0:
            assert got >= after_run[key]  # later: at least as stale
        else:
            assert got == after_run[key], key


def test_status_json_is_one_document_with_each_jobs_standing(sandbox, tmp_path):
    import json

    assert run_crawler(sandbox, tmp_path, "--limit", "2").code == 0
    jobs, tdir = tmp_path / "jobs.yaml", tmp_path / "tracker"
    res = run_cli(crawler_args(jobs, tdir, "--json", command="status"))
    assert res.code == 0, res.output
    doc = json.loads(res.stdout)
    assert {j["name"] for j in doc["jobs"]} == {j.name for j in sandbox.world.jobs}
    for job in doc["jobs"]:
        tracked = read_tracker(tdir, job["name"])
        assert job["tracked"] == len(tracked) == 2
        assert job["newest"] == max(tracked, key=int)
        assert job["newest_age_seconds"] >= 0
        assert job["backlog"] >= 0 and job["lag_seconds"] >= 0
        assert (job["lag_seconds"] > 0) == (job["backlog"] > 0)
