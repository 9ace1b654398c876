"""Self-test of the sandbox's `/prowjobs.js`: it must look like deck's ProwJob feed."""

from __future__ import annotations

import calendar
import gzip
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from crawler.prow.feed import parse_feed
from crawler.sandbox import Faults, Sandbox
from crawler.sandbox.feed import GZIP_MIN_SIZE, HIDDEN_JOBS, RETENTION, world_now

OMIT = "omit=annotations,labels,decoration_config,pod_spec"
HIDDEN = "pull-ci-openshift-origin-master-e2e-aws-ovn"
BLIND = "branch-ci-openshift-origin-master-images"


@pytest.fixture(autouse=True)
def _reset(sandbox: Sandbox) -> Iterator[None]:
    yield
    sandbox.faults.feed_error = 0
    sandbox.faults.feed_blind_jobs = frozenset()
    sandbox.feed.retention = RETENTION
    sandbox.feed.now = None


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """(status, headers, raw body) without raising on HTTP errors; no automatic gunzip."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def feed(sandbox: Sandbox, query: str = OMIT) -> list[dict]:
    status, headers, body = get(f"{sandbox.deck_url}/prowjobs.js?{query}")
    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)["items"]


def epoch(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


def test_plain_answer_is_json_not_cached(sandbox: Sandbox) -> None:
    status, headers, body = get(f"{sandbox.deck_url}/prowjobs.js?{OMIT}")
    assert status == 200 and "Content-Encoding" not in headers
    assert "no-store" in headers["Cache-Control"] and headers["Vary"] == "Accept-Encoding"
    items = json.loads(body)["items"]
    assert {i["kind"] for i in items} == {"ProwJob"}
    assert {i["spec"]["type"] for i in items} == {"periodic", "postsubmit", "presubmit"}


def test_gzip_when_accepted(sandbox: Sandbox) -> None:
    url = f"{sandbox.deck_url}/prowjobs.js?{OMIT}"
    _, _, plain = get(url)
    status, headers, body = get(url, {"Accept-Encoding": "deflate, gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert len(plain) >= GZIP_MIN_SIZE and gzip.decompress(body) == plain
    for refused in ("gzip;q=0", "deflate", "*", "identity"):
        _, headers, body = get(url, {"Accept-Encoding": refused})
        assert "Content-Encoding" not in headers and body == plain, refused


def test_var_wraps_the_same_object(sandbox: Sandbox) -> None:
    url = f"{sandbox.deck_url}/prowjobs.js?{OMIT}"
    _, _, plain = get(url)
    status, headers, body = get(url + "&var=allBuilds")
    assert status == 200 and headers["Content-Type"] == "application/javascript"
    assert body == b"var allBuilds = " + plain + b";"
    assert parse_feed(body) == parse_feed(plain)


def test_omit_leaves_out_the_named_fields(sandbox: Sandbox) -> None:
    full = feed(sandbox, "")
    assert all({"labels", "annotations"} <= set(i["metadata"]) for i in full)
    assert all("decoration_config" in i["spec"] for i in full)
    assert all(i["spec"]["pod_spec"]["containers"][0]["image"] for i in full)
    short = feed(sandbox)
    assert not any({"labels", "annotations"} & set(i["metadata"]) for i in short)
    assert not any("decoration_config" in i["spec"] for i in short)
    assert {json.dumps(i["spec"]["pod_spec"]) for i in short} == {
        '{"containers": [{"name": "", "resources": {}}]}'
    }
    only_labels = feed(sandbox, "omit=labels")
    assert not any("labels" in i["metadata"] for i in only_labels)
    assert all("annotations" in i["metadata"] for i in only_labels)
    # The world's own documents are untouched.
    assert all("labels" in b.prowjob_json["metadata"] for b in sandbox.world.builds())
    assert len(full) == len(short) == len(only_labels)


def test_newest_first_by_start_time(sandbox: Sandbox) -> None:
    keys = [(-epoch(i["status"]["startTime"]), i["spec"]["job"]) for i in feed(sandbox)]
    assert keys == sorted(keys)


def test_retention_keeps_a_day_and_the_newest_periodic(sandbox: Sandbox) -> None:
    world = sandbox.world
    now = world_now(world)
    items = feed(sandbox)
    listed = {(i["spec"]["job"], i["status"].get("build_id")) for i in items}
    for job in world.jobs:
        done = [b for b in job.builds if not b.running]
        newest = max(done, key=lambda b: b.started) if done else None
        for build in job.builds:
            start = epoch(build.prowjob_json["status"]["startTime"])
            expected = job.name not in HIDDEN_JOBS and (
                build.running
                or start >= now - RETENTION
                or (job.kind == "periodic" and build is newest)
            )
            assert ((job.name, build.id) in listed) == expected, (job.name, build.id)
    running = [i for i in items if i["status"]["state"] == "pending"]
    assert running and all("completionTime" not in i["status"] for i in running)
    assert all(i["status"]["build_id"] and i["status"]["url"] for i in running)


def test_old_periodic_run_is_kept_when_all_else_is_gone(sandbox: Sandbox) -> None:
    sandbox.feed.retention = 1
    items = feed(sandbox)
    finished = [i for i in items if "completionTime" in i["status"]]
    periodics = {j.name for j in sandbox.world.jobs if j.kind == "periodic"}
    assert sorted(i["spec"]["job"] for i in finished) == sorted(periodics)
    result = parse_feed(json.dumps({"items": items}).encode())
    assert result.coverage is None  # only the spared runs finished: no claim possible


def test_triggered_items_have_no_build_yet(sandbox: Sandbox) -> None:
    items = feed(sandbox)
    triggered = [i for i in items if i["status"]["state"] == "triggered"]
    periodics = {j.name for j in sandbox.world.jobs if j.kind == "periodic"}
    assert {i["spec"]["job"] for i in triggered} == periodics
    assert all(not {"build_id", "url", "completionTime"} & set(i["status"]) for i in triggered)
    result = parse_feed(json.dumps({"items": items}).encode())
    assert result.waiting == len(triggered) and result.skipped == 0


def test_feed_matches_the_world_and_covers_a_day(sandbox: Sandbox) -> None:
    result = parse_feed(json.dumps({"items": feed(sandbox)}).encode())
    assert result.coverage is not None
    assert world_now(sandbox.world) - RETENTION <= result.coverage
    for name, builds in result.jobs.items():
        job = sandbox.world.job(name)
        for build in builds:
            assert build.build_ref().spyglass_path == job.build(build.build_id).spyglass_path
    buckets = {b.bucket for builds in result.jobs.values() for b in builds}
    assert "test-platform-results-public" in buckets


def test_hidden_job_only_on_its_pages(sandbox: Sandbox) -> None:
    assert {HIDDEN} == HIDDEN_JOBS
    assert HIDDEN not in {i["spec"]["job"] for i in feed(sandbox, "")}
    status, _, body = get(sandbox.deck_url + sandbox.world.job(HIDDEN).history_path())
    assert status == 200 and sandbox.world.job(HIDDEN).builds[0].id.encode() in body


def test_feed_requests_are_counted_apart(sandbox: Sandbox) -> None:
    pages, feeds = sandbox.deck_requests.total(), sandbox.feed_requests["feed"]
    feed(sandbox)
    get(sandbox.deck_url + sandbox.world.jobs[0].history_path())
    assert sandbox.feed_requests["feed"] == feeds + 1
    assert sandbox.deck_requests.total() == pages + 1


def test_fault_feed_error(sandbox: Sandbox) -> None:
    sandbox.faults.feed_error = 503
    status, _, body = get(f"{sandbox.deck_url}/prowjobs.js?{OMIT}")
    assert status == 503 and b"Service Unavailable" in body
    assert sandbox.faults.injected()["feed-error"] >= 1
    status, _, _ = get(sandbox.deck_url + sandbox.world.jobs[0].history_path())
    assert status == 200  # pages still work


def test_fault_feed_blind(sandbox: Sandbox) -> None:
    before = {i["spec"]["job"] for i in feed(sandbox)}
    assert BLIND in before
    sandbox.faults.feed_blind_jobs = frozenset({BLIND})
    assert {i["spec"]["job"] for i in feed(sandbox)} == before - {BLIND}
    assert sandbox.faults.injected()["feed-blind"] >= 1
    status, _, body = get(sandbox.deck_url + sandbox.world.job(BLIND).history_path())
    assert status == 200 and sandbox.world.job(BLIND).builds[0].id.encode() in body


def test_fault_spec_keys() -> None:
    faults = Faults.parse(f"feed_error=500,feed_blind={BLIND}+other")
    assert faults.feed_error == 500 and faults.feed_blind_jobs == {BLIND, "other"}
    for bad in ("feed_error=404", "feed_error=x", "deck:feed_error=500"):
        with pytest.raises(ValueError, match="feed_error"):
            Faults.parse(bad)
