"""Deck's ProwJob feed: the streaming parser, hostile items, the cap and the coverage rule."""

from __future__ import annotations

import calendar
import json
import random
import time
import tracemalloc
from typing import Any

import pytest

from crawler.core.builds import PullRef
from crawler.prow.feed import MAX_DEPTH, Feed, FeedBuild, FeedError, FeedParser, feed_coverage
from crawler.prow.feed import parse_feed as _parse_feed
from crawler.prow.feed_items import MAX_JOB_NAME
from crawler.prow.jsondepth import DepthGuard

HOST = "https://prow.ci.openshift.org"
BUCKET = "test-platform-results"
T0 = calendar.timegm((2026, 1, 20, 12, 0, 0))
PERIODIC = "periodic-ci-openshift-release-master-ci-4.21-e2e-aws-ovn"
PRESUBMIT = "pull-ci-openshift-console-master-e2e-gcp-console"


def stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def item(
    job: str = PRESUBMIT,
    build_id: str = "1951000000000000001",
    *,
    kind: str | None = None,
    state: str = "success",
    started: float = T0,
    completed: float | None = None,
    url: str | None = None,
    pull: int = 4121,
    **status: Any,
) -> dict:
    """A ProwJob as deck lists it with `omit=annotations,labels,decoration_config,pod_spec`."""
    kind = kind or ("periodic" if job.startswith("periodic") else "presubmit")
    finished = state in ("success", "failure", "aborted", "error")
    if completed is None and finished:
        completed = started + 1800
    if kind == "presubmit":
        path = f"pr-logs/pull/openshift_console/{pull}/{job}/{build_id}"
        refs = {
            "org": "openshift",
            "repo": "console",
            "base_ref": "master",
            "base_sha": "98ac9c18986a889942839d3cf1d63f8c40ce792b",
            "pulls": [
                {
                    "number": pull,
                    "author": "jhernand",
                    "sha": "f8a202c4301d7916d05124e9d156cc83db151804",
                    "title": "MGMT-11027: Implement agent upgrade; and [more]",
                    "link": f"https://github.com/openshift/console/pull/{pull}",
                }
            ],
        }
        spec: dict = {"type": kind, "job": job, "refs": refs}
    else:
        path = f"logs/{job}/{build_id}"
        extra = [{"org": "openshift", "repo": "release", "base_ref": "master", "workdir": True}]
        spec = {"type": kind, "job": job, "extra_refs": extra}
    spec["pod_spec"] = {"containers": [{"name": "", "resources": {}}]}
    body: dict = {
        "startTime": stamp(started),
        "state": state,
        "description": "Job succeeded.",
        "url": url if url is not None else f"{HOST}/view/gs/{BUCKET}/{path}",
        "pod_name": "43b70363-0737-11ed-a2cd-0a580a810b83",
        "build_id": build_id,
    }
    if completed is not None:
        body["completionTime"] = stamp(completed)
    body.update(status)
    return {
        "kind": "ProwJob",
        "apiVersion": "prow.k8s.io/v1",
        "metadata": {"name": "43b70363-0737-11ed-a2cd-0a580a810b83", "namespace": "ci"},
        "spec": spec,
        "status": {k: v for k, v in body.items() if v is not None},
    }


def encode(items: list[Any], var: str | None = None) -> bytes:
    text = json.dumps({"items": items})
    return (f"var {var} = {text};" if var else text).encode()


def parse_feed(data: bytes, **kwargs: Any) -> Feed:
    return _parse_feed(data, **kwargs)


def in_chunks(data: bytes, size: int, cap: int | None = None) -> Feed:
    parser = FeedParser() if cap is None else FeedParser(cap)
    for offset in range(0, len(data), size):
        parser.feed(data[offset : offset + size])
    return parser.close()


# --- reading --------------------------------------------------------------------------------


def test_reads_the_fields_used() -> None:
    feed = parse_feed(encode([item(), item(PERIODIC, "1951000000000000002", state="pending")]))
    assert (feed.items, feed.skipped, feed.waiting) == (2, 0, 0)
    [pre] = feed.builds(PRESUBMIT)
    assert pre == FeedBuild(
        job=PRESUBMIT,
        type="presubmit",
        state="success",
        build_id="1951000000000000001",
        started=float(T0),
        completed=float(T0 + 1800),
        bucket=BUCKET,
        path=f"pr-logs/pull/openshift_console/4121/{PRESUBMIT}/1951000000000000001",
        org="openshift",
        repo="console",
        base_ref="master",
        base_sha="98ac9c18986a889942839d3cf1d63f8c40ce792b",
        pull=PullRef(
            4121,
            "jhernand",
            "f8a202c4301d7916d05124e9d156cc83db151804",
            "https://github.com/openshift/console/pull/4121",
        ),
    )
    assert pre.finished
    ref = pre.build_ref()
    assert (ref.id, ref.result, ref.started, ref.spyglass_path) == (
        pre.build_id,
        "SUCCESS",
        "2026-01-20T12:00:00Z",
        f"/view/gs/{BUCKET}/{pre.path}",
    )
    [periodic] = feed.builds(PERIODIC)
    assert not periodic.finished and periodic.completed is None
    assert (periodic.org, periodic.repo, periodic.pull) == ("openshift", "release", None)
    assert periodic.build_ref().running


def test_both_wrappers_and_any_chunking_read_alike() -> None:
    items = [item(build_id=str(1951000000000000000 + i), started=T0 - i) for i in range(5)]
    plain = parse_feed(encode(items))
    for data in (
        encode(items, var="allBuilds"),
        b"  \n" + encode(items, var="x") + b" \n",
        b'var a=\n{"items": ' + json.dumps(items).encode() + b"}\n;",
    ):
        for size in (1, 2, 3, 7, 64, 1 << 20):
            assert in_chunks(data, size) == plain, (data[:20], size)


def test_semicolons_inside_strings_survive_chunk_edges() -> None:
    job = item()
    job["spec"]["refs"]["pulls"][0]["author"] = "a;; ;"
    data = encode([job], var="allBuilds")
    for size in range(1, 40):
        [build] = in_chunks(data, size).builds(PRESUBMIT)
        assert build.pull is not None and build.pull.author == "a;; ;"


def test_builds_grouped_per_job_newest_first() -> None:
    items = [
        item(build_id="1951000000000000003", started=T0 - 300),
        item(PERIODIC, "1951000000000000009", started=T0 - 100),
        item(build_id="1951000000000000005", started=T0),
        item(build_id="1951000000000000004", started=T0 - 300),  # same start: ID decides
    ]
    feed = parse_feed(encode(items))
    assert [b.build_id[-1] for b in feed.builds(PRESUBMIT)] == ["5", "4", "3"]
    assert list(feed.jobs) == [PRESUBMIT, PERIODIC]
    assert feed.builds("no-such-job") == ()


def test_items_without_a_build_id_yet_are_waiting_not_skipped() -> None:
    triggered, scheduling = item(state="triggered"), item(state="scheduling")
    for queued in (triggered, scheduling):
        for key in ("url", "pod_name", "build_id"):
            del queued["status"][key]
    scheduling["status"]["build_id"] = ""  # empty or absent, as Prow leaves it
    items = [triggered, scheduling, item()]
    feed = parse_feed(encode(items))
    assert (feed.items, feed.waiting, feed.skipped) == (3, 2, 0)
    assert len(feed.builds(PRESUBMIT)) == 1


# --- hostile items --------------------------------------------------------------------------

ID = "1951000000000000001"
GOOD_URL = f"{HOST}/view/gs/{BUCKET}/pr-logs/pull/openshift_console/4121/{PRESUBMIT}/{ID}"


def _without(key: str, where: str) -> dict:
    job = item()
    del job[where][key]
    return job


def _with(where: str, **fields: Any) -> dict:
    job = item()
    job[where].update(fields)
    return job


HOSTILE: list[tuple[Any, str]] = [
    ("a string", "not an object"),
    (42, "not an object"),
    (None, "not an object"),
    ([item()], "not an object"),
    ({}, "no spec.job"),
    ({"status": item()["status"]}, "no spec.job"),
    (_without("job", "spec"), "no spec.job"),
    ({"spec": item()["spec"]}, "no status"),
    (item() | {"status": "pending"}, "no status"),
    (_with("spec", job="a/b"), "bad job name"),
    (_with("spec", job="a\\b"), "bad job name"),
    (_with("spec", job="a..b"), "bad job name"),
    (_with("spec", job="../etc"), "bad job name"),
    (_with("spec", job="x" * (MAX_JOB_NAME + 1)), "bad job name"),
    (_with("spec", job=12345), "bad job name"),
    (_with("spec", job=None), "bad job name"),
    (_with("spec", job=""), "bad job name"),
    (_with("spec", job="job\u0000"), "bad job name"),
    (_with("spec", type="cron"), "bad spec.type"),
    (_with("status", state="SUCCESS"), "bad status.state"),
    (_with("status", state=None), "bad status.state"),
    (_with("status", startTime="yesterday"), "bad status.startTime"),
    (_with("status", startTime="9999-12-31T23:59:59Z"), "bad status.startTime"),
    (_with("status", startTime=1768910400), "bad status.startTime"),
    (_without("startTime", "status"), "bad status.startTime"),
    (_with("status", completionTime="soon"), "bad status.completionTime"),
    (_without("completionTime", "status"), "state contradicts completionTime"),
    (_with("status", state="pending"), "state contradicts completionTime"),
    (_with("status", build_id="12x"), "bad status.build_id"),
    (_with("status", build_id="-1"), "bad status.build_id"),
    (_with("status", build_id="0" + ID), "bad status.build_id"),
    (_with("status", build_id="\u0661\u0662\u0663"), "bad status.build_id"),
    (_with("status", build_id=int(ID)), "bad status.build_id"),
    (_with("status", build_id=str(2**64)), "bad status.build_id"),
    (_with("status", build_id="1.5"), "bad status.build_id"),
    (_without("url", "status"), "bad status.url"),
    (_with("status", url=""), "bad status.url"),
    (_with("status", url=GOOD_URL.removeprefix(HOST)), "bad status.url"),
    (_with("status", url=GOOD_URL.replace("/view/gs/", "/view/gcs/")), "bad status.url"),
    (_with("status", url=GOOD_URL.replace(PRESUBMIT, "other-job")), "bad status.url"),
    (_with("status", url=GOOD_URL[:-1] + "2"), "bad status.url"),
    (_with("status", url=GOOD_URL + "?a=b"), "bad status.url"),
    (_with("status", url=GOOD_URL + "#x"), "bad status.url"),
    (_with("status", url=GOOD_URL.replace("openshift_console", "..")), "bad status.url"),
    (_with("status", url=GOOD_URL.replace("openshift_console", "%2e%2e")), "bad status.url"),
    (_with("status", url=GOOD_URL.replace("/4121/", "/4121//")), "bad status.url"),
    (_with("status", url=GOOD_URL.replace(BUCKET, "Bucket")), "bad status.url"),
    (_with("status", url=f"{HOST}/view/gs/{BUCKET}/{PRESUBMIT}/{ID}"), "bad status.url"),
    (_with("status", url="javascript:alert(1)"), "bad status.url"),
    (_with("status", url=["x"]), "bad status.url"),
    (item(), "duplicate build"),
]


@pytest.mark.parametrize(("hostile", "reason"), HOSTILE, ids=[r for _, r in HOSTILE])
def test_hostile_items_are_skipped_and_counted(hostile: Any, reason: str) -> None:
    other = item(PERIODIC, "1951000000000000007")
    feed = parse_feed(encode([item(), hostile, other]))
    assert (feed.items, feed.skipped, feed.reasons) == (3, 1, {reason: 1})
    assert [b.build_id for b in feed.builds(PRESUBMIT)] == [ID]
    assert len(feed.builds(PERIODIC)) == 1


def test_every_hostile_item_at_once() -> None:
    feed = parse_feed(encode([item()] + [h for h, _ in HOSTILE]), chunk=97)
    assert feed.skipped == len(HOSTILE) and feed.items == len(HOSTILE) + 1
    assert sum(feed.reasons.values()) == feed.skipped
    assert [b.build_id for b in feed.builds(PRESUBMIT)] == [ID]
    assert list(feed.jobs) == [PRESUBMIT]  # no build of any other name came through


def test_odd_refs_are_data_not_errors() -> None:
    job = item()
    job["spec"]["refs"] = {"org": 5, "repo": "<script>", "pulls": "no"}
    [build] = parse_feed(encode([job])).builds(PRESUBMIT)
    assert (build.org, build.repo, build.pull) == (None, None, None)


# --- feeds that cannot be read --------------------------------------------------------------


def test_cap_counts_the_bytes_fed() -> None:
    data = encode([item() for _ in range(3)])
    assert in_chunks(data, 100, cap=len(data)).items == 3
    with pytest.raises(FeedError, match=f"{len(data) - 1}-byte cap") as err:
        in_chunks(data, 100, cap=len(data) - 1)
    assert "cap" in err.value.reason


@pytest.mark.parametrize("data", [b'{"items": []}', b"{}", b"[]", b'{"items": null}', b"[{}]"])
def test_zero_items(data: bytes) -> None:
    with pytest.raises(FeedError, match="no ProwJobs"):
        parse_feed(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \n",
        b"<html><body>502 Bad Gateway</body></html>",
        encode([item()])[:-5],
        b'{"items": ["\xff\xfe"]}',
        encode([item()]) + b";",
        encode([item()], var="x") + b" extra",
        b"var = " + encode([item()]),
        b"var x",
        b"varnish " * 40,
        b'{"items": [1]} {"items": [2]}',
        b'{"items": [' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"]}",
    ],
)
def test_not_json(data: bytes) -> None:
    with pytest.raises(FeedError, match=r"empty|not JSON|not a ProwJob list") as err:
        in_chunks(data, 5)
    assert "\n" not in err.value.reason and len(err.value.reason) < 300


def test_deep_nesting_is_refused_fast() -> None:
    """ijson's cost grows with depth at every event: 200,000 levels would take minutes."""
    depth = 200_000
    data = b'{"items": [{"spec": {"x": ' + b"[" * depth + b"]" * depth + b"}}]}"
    began = time.perf_counter()
    with pytest.raises(FeedError, match=f"deeper than {MAX_DEPTH}"):
        parse_feed(data)
    assert time.perf_counter() - began < 1.0


def test_depth_guard_matches_the_json_depth() -> None:
    """Strings holding brackets, quotes and backslashes, split at every possible place."""
    rng = random.Random(7)
    pieces = ['"[{"', '"\\\\"', '"\\""', '"a\\\\\\"]"', '"}}}"', "1", "true", '"\\u005b"']

    def value(depth: int) -> Any:
        if depth == 0 or rng.random() < 0.3:
            return json.loads(rng.choice(pieces))
        if rng.random() < 0.5:
            return [value(depth - 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice(["k", "[", '"}']): value(depth - 1) for _ in range(rng.randint(0, 3))}

    def depth_of(v: Any) -> int:
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else None
        return 0 if children is None else 1 + max(map(depth_of, children), default=0)

    for _ in range(200):
        doc = value(8)
        text = json.dumps(doc).encode()
        limit = depth_of(doc)
        for size in (1, 2, 3, 5, 11):
            ok = DepthGuard(limit)
            for offset in range(0, len(text), size):
                ok.feed(text[offset : offset + size])
            assert ok.depth == 0
            if limit:
                tight = DepthGuard(limit - 1)
                with pytest.raises(ValueError):
                    for offset in range(0, len(text), size):
                        tight.feed(text[offset : offset + size])


# --- coverage -------------------------------------------------------------------------------


def build(job: str, n: int, started: float, *, finished: bool = True, kind: str = "") -> FeedBuild:
    return FeedBuild(
        job=job,
        type=kind or ("periodic" if job.startswith("periodic") else "presubmit"),
        state="success" if finished else "pending",
        build_id=str(1951000000000000000 + n),
        started=started,
        completed=started + 60 if finished else None,
        bucket=BUCKET,
        path=f"logs/{job}/{1951000000000000000 + n}",
    )


def test_coverage_is_the_oldest_finished_start() -> None:
    builds = [
        build(PRESUBMIT, 1, T0 - 100),
        build(PRESUBMIT, 2, T0 - 900),
        build(PRESUBMIT, 3, T0 - 5000, finished=False),  # running: never deleted by age
        build("branch-ci-x", 4, T0 - 700, kind="postsubmit"),
    ]
    assert feed_coverage(builds) == T0 - 900


def test_the_newest_finished_periodic_proves_nothing() -> None:
    """Sinker keeps it however old: a weekly periodic's last run is days older than C."""
    weekly = build("periodic-weekly", 1, T0 - 7 * 86400)
    assert feed_coverage([weekly, build(PRESUBMIT, 2, T0 - 600)]) == T0 - 600
    assert feed_coverage([weekly]) is None
    # Its older runs are deleted by age like any other: the oldest of them is C.
    older = build("periodic-weekly", 0, T0 - 8 * 86400)
    assert feed_coverage([weekly, older]) == T0 - 8 * 86400
    running = build("periodic-weekly", 2, T0, finished=False)
    assert feed_coverage([running, weekly, older]) == T0 - 8 * 86400


def test_no_coverage_without_evidence() -> None:
    assert feed_coverage([]) is None
    assert feed_coverage([build(PRESUBMIT, 1, T0, finished=False)]) is None
    assert feed_coverage([build(PERIODIC, 1, T0), build("periodic-b", 2, T0 - 9)]) is None


def test_feed_coverage_and_covers() -> None:
    items = [
        item(build_id="1951000000000000005", started=T0),
        item(build_id="1951000000000000004", started=T0 - 3600),
        item(PERIODIC, "1951000000000000003", started=T0 - 5 * 86400),
    ]
    feed = parse_feed(encode(items))
    assert feed.coverage == T0 - 3600
    assert feed.covers(PRESUBMIT, T0 - 3600) and not feed.covers(PRESUBMIT, T0 - 3601)
    assert feed.covers(PERIODIC, T0 - 60)
    # A job the feed does not list may be hidden: never covered.
    assert not feed.covers("pull-ci-hidden", T0)
    assert parse_feed(encode([items[2]])).coverage is None


def test_skipped_items_never_widen_coverage() -> None:
    old_but_bad = item(build_id="1951000000000000009", started=T0 - 86400, url="x")
    feed = parse_feed(encode([item(started=T0), item(build_id="19510", started=T0 - 60)]))
    worse = parse_feed(encode([item(started=T0), old_but_bad]))
    assert feed.coverage == T0 - 60 and worse.coverage == T0


# --- size -----------------------------------------------------------------------------------


def synthetic_feed(n: int) -> bytes:
    """n ProwJobs over ~600 jobs, newest first, as big as real ones with `omit`."""
    rng = random.Random(3)
    items = []
    for i in range(n):
        job = f"pull-ci-openshift-console-master-e2e-{i % 600}"
        state = "pending" if i < 300 else rng.choice(["success", "failure", "aborted"])
        items.append(item(job, str(1951000000000000000 + n - i), state=state, started=T0 - i * 3))
    return encode(items)


def test_30000_items_parse_with_flat_memory(capsys: pytest.CaptureFixture[str]) -> None:
    data = synthetic_feed(30_000)
    began = time.perf_counter()
    feed = in_chunks(data, 64 * 1024)
    seconds = time.perf_counter() - began
    assert feed.items == 30_000 and feed.skipped == 0 and len(feed.jobs) == 600
    del feed
    tracemalloc.start()
    try:
        feed = in_chunks(data, 64 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(len(b) for b in feed.jobs.values()) == 30_000
    with capsys.disabled():
        print(
            f"\nfeed of 30,000 items ({len(data) / 1e6:.1f} MB): parsed in {seconds:.2f} s,"
            f" peak {peak / 1e6:.1f} MB traced"
        )
    assert peak < 50e6
