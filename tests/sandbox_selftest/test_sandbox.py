"""Self-test of the sandbox: its fakes must look like the real deck, GCS and Logilica."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator

import aiohttp
import pytest
import yaml
from gcloud.aio.storage import Storage

from crawler.sandbox import Faults, Sandbox, World, default_world, generated_world
from crawler.sandbox.records import MOVED_BUCKET, PUBLIC_BUCKET
from crawler.sandbox.worldgen import ESCAPE_TITLE

MARKER = "var allBuilds = "
ENTRY_KEYS = ["SpyglassLink", "ID", "Started", "Duration", "Result", "Refs"]
OLDER = re.compile(r'<a href="([^"]*)">&lt;- Older Runs</a>')
NEWER = re.compile(r'<a href="([^"]*)">Newer Runs -&gt;</a>')
LATEST = re.compile(r'<a href="([^"]*)">Latest Runs</a>')


@pytest.fixture(autouse=True)
def _reset(sandbox: Sandbox) -> Iterator[None]:
    yield
    sandbox.faults.latency = 0.0
    sandbox.faults.error_rate = 0.0
    sandbox.faults.reject_repos = frozenset()
    sandbox.recorder.clear()


def get(url: str, headers: dict[str, str] | None = None, data: bytes | None = None):
    """(status, headers, body) without raising on HTTP errors."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def parse_page(html: str) -> tuple[list[dict], str | None]:
    start = html.index(MARKER) + len(MARKER)
    builds, _ = json.JSONDecoder().raw_decode(html, start)
    older = OLDER.search(html)
    return builds, older.group(1) if older else None


def fetch_page(sandbox: Sandbox, path: str) -> tuple[list[dict], str | None, str]:
    status, headers, body = get(sandbox.deck_url + path)
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/html")
    html = body.decode()
    return (*parse_page(html), html)


def walk(sandbox: Sandbox, path: str) -> list[list[dict]]:
    pages = []
    while path:
        builds, path, _ = fetch_page(sandbox, path)
        pages.append(builds)
        assert len(pages) < 50, "Older links loop"
    return pages


def object_url(sandbox: Sandbox, bucket: str, name: str) -> str:
    quoted = urllib.parse.quote(name, safe="")
    return f"{sandbox.gcs_url}/storage/v1/b/{bucket}/o/{quoted}?alt=media"


# --- the default world -------------------------------------------------------------------------


def test_default_world_covers_every_case() -> None:
    world = default_world()
    builds = world.builds()
    kinds = {j.kind for j in world.jobs}
    assert kinds == {"periodic", "postsubmit", "presubmit"}
    assert all(25 <= len(j.builds) <= 60 for j in world.jobs)
    assert [b.result for b in builds].count("ERROR") == 1
    assert {"SUCCESS", "FAILURE", "ABORTED"} <= {b.result for b in builds}
    running = world.running_builds()
    assert len(running) == 1 and running[0] is world.job(running[0].job).builds[0]
    assert any(b.started_json.get("metadata") == {"uploader": "crier"} for b in builds)
    assert any(b.finished_json and b.finished_json["result"] == "failure" for b in builds)
    assert any(b.gzip_files for b in builds)
    assert any(len(b.id) < 4 for b in builds) and any(len(b.id) == 19 for b in builds)
    assert any(
        b.started_json.get("repo-commit") == "master"
        and b.finished_json
        and re.fullmatch("[0-9a-f]{40}", b.finished_json["revision"])
        for b in builds
    )
    assert {b.bucket for b in builds} == {"test-platform-results", PUBLIC_BUCKET}
    known = {r["name"] for r in world.repositories}
    assert {b.repo for b in builds} <= known
    for job in world.jobs:
        ids = [int(b.id) for b in job.builds]
        assert ids == sorted(ids, reverse=True)


def test_default_world_shapes_per_kind() -> None:
    world = default_world()
    periodic = next(j for j in world.jobs if j.kind == "periodic").builds[1]
    assert periodic.refs is None
    assert periodic.prowjob_json["spec"]["extra_refs"][0]["org"] == periodic.repo.split("/")[0]
    assert periodic.finished_json["metadata"]["repo"] == periodic.repo
    presubmit = next(j for j in world.jobs if j.kind == "presubmit").builds[0]
    pull = presubmit.refs["pulls"][0]
    assert set(pull) >= {"number", "author", "sha", "title", "link"}
    assert presubmit.path.startswith("pr-logs/pull/openshift_console/")
    assert presubmit.started_json["pull"] == str(pull["number"])
    assert presubmit.started_json["repo-commit"] == pull["sha"]
    assert presubmit.prowjob_json["spec"]["refs"] == presubmit.refs
    titles = [b.refs["pulls"][0]["title"] for j in world.jobs for b in j.builds if j.presubmit]
    assert ESCAPE_TITLE in titles


def test_generated_world_is_fast_and_unique() -> None:
    began = time.perf_counter()
    world = generated_world(20, 200, running_per_job=1)
    assert time.perf_counter() - began < 2.0
    ids = [b.id for b in world.builds()]
    assert len(ids) == 4000 == len(set(ids))
    assert len(world.running_builds()) == 20
    assert {b.repo for b in world.builds()} <= {r["name"] for r in world.repositories}
    assert {j.kind for j in world.jobs} == {"periodic", "postsubmit", "presubmit"}
    assert generated_world(2, 30).builds()[5].id == generated_world(2, 30).builds()[5].id


# --- deck --------------------------------------------------------------------------------------


def test_first_page(sandbox: Sandbox) -> None:
    job = sandbox.world.jobs[0]
    builds, older, html = fetch_page(sandbox, job.history_path())
    assert len(builds) == 20
    assert all(list(b) == ENTRY_KEYS for b in builds)
    ids = [int(b["ID"]) for b in builds]
    assert ids == sorted(ids, reverse=True)
    all_ids = sorted((int(b.id) for b in job.builds), reverse=True)
    assert older == f"{job.history_path()}?buildId={all_ids[20]}"
    assert f"Showing 20/{len(job.builds)} results" in html
    assert "  var allBuilds = [" in html.splitlines()[html.count("\n", 0, html.index(MARKER))]
    assert not NEWER.search(html) and not LATEST.search(html)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", builds[1]["Started"])


def test_running_build_is_pending(sandbox: Sandbox) -> None:
    running = sandbox.world.running_builds()[0]
    builds, _, _ = fetch_page(sandbox, sandbox.world.job(running.job).history_path())
    entry = next(b for b in builds if b["ID"] == running.id)
    assert entry["Result"] == "PENDING" and entry["Duration"] == 0
    finished = [b for b in builds if b["Result"] != "PENDING"]
    assert all(b["Duration"] > 0 and b["Duration"] % 1_000_000_000 == 0 for b in finished)


@pytest.mark.parametrize("index", range(5))
def test_all_pages_list_every_build_once(sandbox: Sandbox, index: int) -> None:
    job = sandbox.world.jobs[index]
    pages = walk(sandbox, job.history_path())
    assert len(pages) == -(-len(job.builds) // 20)
    seen = [b["ID"] for page in pages for b in page]
    assert Counter(seen) == Counter(b.id for b in job.builds)
    ids = [int(i) for i in seen]
    assert ids == sorted(ids, reverse=True)  # small IDs ("16") sort as integers, last
    for page in pages:
        for entry in page:
            build = job.build(entry["ID"])
            assert entry["SpyglassLink"] == f"/view/gs/{build.bucket}/{build.path}"
            assert entry["Refs"] == build.refs


def test_second_page_links(sandbox: Sandbox) -> None:
    job = sandbox.world.jobs[2]
    ids = sorted((int(b.id) for b in job.builds), reverse=True)
    _, older, _ = fetch_page(sandbox, job.history_path())
    _, older, html = fetch_page(sandbox, older)
    # deck: Newer goes to the ID 20 places up (an empty buildId only when fewer remain).
    assert NEWER.search(html).group(1) == f"{job.history_path()}?buildId={ids[0]}"
    assert LATEST.search(html).group(1) == f"{job.history_path()}?buildId="
    _, older, html = fetch_page(sandbox, older)
    assert NEWER.search(html).group(1) == f"{job.history_path()}?buildId={ids[20]}"
    assert older is None
    _, _, html = fetch_page(sandbox, f"{job.history_path()}?buildId={ids[5]}")
    assert NEWER.search(html).group(1) == f"{job.history_path()}?buildId="


def test_escaped_title_round_trips(sandbox: Sandbox) -> None:
    job = next(j for j in sandbox.world.jobs if j.presubmit and j.repo == "openshift/console")
    _, _, html = fetch_page(sandbox, job.history_path())
    script = html[html.index(MARKER) : html.index("</script>", html.index(MARKER))]
    assert '\\u003cb\\u003e\\u0026\\"quotes\\"\\u003c/b\\u003e' in script
    assert "<b>" not in script and "&" not in script
    titles = [
        p["title"]
        for page in walk(sandbox, job.history_path())
        for b in page
        for p in (b["Refs"] or {}).get("pulls", [])
    ]
    assert ESCAPE_TITLE in titles


def test_merged_buckets(sandbox: Sandbox) -> None:
    job = next(j for j in sandbox.world.jobs if len(j.buckets()) == 2)
    builds, _, _ = fetch_page(sandbox, job.history_path())
    buckets = {b["SpyglassLink"].split("/")[3] for b in builds}
    assert buckets == {"test-platform-results", PUBLIC_BUCKET}
    public = job.history_path().replace("test-platform-results", PUBLIC_BUCKET)
    assert fetch_page(sandbox, public)[0] == builds
    for entry in builds[10:14]:
        bucket, path = entry["SpyglassLink"].removeprefix("/view/gs/").split("/", 1)
        status, _, _ = get(object_url(sandbox, bucket, f"{path}/started.json"))
        assert status == 200


def test_old_url_form_and_build_id(sandbox: Sandbox) -> None:
    job = sandbox.world.jobs[1]
    ids = sorted((int(b.id) for b in job.builds), reverse=True)
    builds, older, _ = fetch_page(sandbox, f"/job-history/{job.bucket}/logs/{job.name}")
    assert [int(b["ID"]) for b in builds] == ids[:20]
    assert older == f"/job-history/{job.bucket}/logs/{job.name}?buildId={ids[20]}"
    builds, older, _ = fetch_page(sandbox, f"{job.history_path()}?buildId={ids[5] + 1}")
    assert [int(b["ID"]) for b in builds] == ids[5:25]
    before = sandbox.deck_requests.snapshot()
    fetch_page(sandbox, f"{job.history_path()}?buildId={ids[-1]}")
    assert sandbox.deck_requests["logs"] == before["logs"] + 1


@pytest.mark.parametrize(
    "path",
    [
        "/job-history/gs/test-platform-results/logs/no-such-job",
        "/job-history/gs/test-platform-results/logs/pull-ci-openshift-origin-master-e2e-aws-ovn",
        "/job-history/gs/unknown-bucket/logs/branch-ci-openshift-origin-master-images",
        "/job-history/gs/test-platform-results/logs/branch-ci-openshift-origin-master-images"
        "?buildId=abc",
    ],
)
def test_deck_errors(sandbox: Sandbox, path: str) -> None:
    status, headers, body = get(sandbox.deck_url + path)
    assert status == 500
    assert headers["Content-Type"].startswith("text/plain")
    assert body.decode().startswith("failed to get job history:")


def test_job_without_builds() -> None:
    world = default_world()
    world.job("branch-ci-openshift-origin-master-images").builds.clear()
    with Sandbox(world) as sb:
        builds, older, html = fetch_page(sb, world.jobs[1].history_path())
    assert builds == [] and older is None and "var allBuilds = [];" in html


# --- GCS ---------------------------------------------------------------------------------------


def test_gcs_serves_seeded_json(sandbox: Sandbox) -> None:
    build = next(b for b in sandbox.world.finished_builds() if not b.gzip_files)
    for name, doc in (("started.json", build.started_json), ("finished.json", build.finished_json)):
        status, _, body = get(object_url(sandbox, build.bucket, f"{build.path}/{name}"))
        assert status == 200 and json.loads(body) == doc
    status, _, body = get(object_url(sandbox, build.bucket, f"{build.path}/prowjob.json"))
    assert body.startswith(b'{\n\t"kind": "ProwJob"')
    assert json.loads(body) == build.prowjob_json


def test_gcs_running_build_has_no_finished_json(sandbox: Sandbox) -> None:
    build = sandbox.world.running_builds()[0]
    status, _, body = get(object_url(sandbox, build.bucket, f"{build.path}/finished.json"))
    assert status == 404 and json.loads(body)["error"]["code"] == 404
    status, _, _ = get(object_url(sandbox, build.bucket, f"{build.path}/started.json"))
    assert status == 200


def test_gcs_index_files(sandbox: Sandbox) -> None:
    job = next(j for j in sandbox.world.jobs if j.presubmit)
    build = job.builds[3]
    _, _, body = get(object_url(sandbox, build.bucket, f"{job.history_root()}/{build.id}.txt"))
    assert body.decode() == f"gs://{build.bucket}/{build.path}"
    _, _, body = get(object_url(sandbox, job.bucket, f"{job.history_root()}/latest-build.txt"))
    assert body.decode() == job.builds[0].id


def test_gcs_gzip_objects(sandbox: Sandbox) -> None:
    build = next(b for b in sandbox.world.finished_builds() if "finished.json" in b.gzip_files)
    url = object_url(sandbox, build.bucket, f"{build.path}/finished.json")

    async def fetch() -> tuple[str | None, bytes]:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.headers.get("Content-Encoding"), await response.read()

    encoding, body = asyncio.run(fetch())
    assert encoding == "gzip" and json.loads(body) == build.finished_json
    # Clients that do not accept gzip get it decompressed, as from GCS.
    _, headers, body = get(url)
    assert "Content-Encoding" not in headers and json.loads(body) == build.finished_json


def test_gcs_with_gcloud_aio_storage(sandbox: Sandbox) -> None:
    build = next(b for b in sandbox.world.finished_builds() if "prowjob.json" in b.gzip_files)

    async def download() -> bytes:
        async with Storage(api_root=sandbox.gcs_url) as storage:
            return await storage.download(build.bucket, f"{build.path}/prowjob.json")

    assert json.loads(asyncio.run(download())) == build.prowjob_json


# --- Logilica ----------------------------------------------------------------------------------


def logilica(sandbox: Sandbox, path: str, body: object = None, **headers: str):
    base = {"X-lgca-token": sandbox.token, "x-lgca-domain": sandbox.domain}
    base.update(headers)
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        base["Content-Type"] = "application/json"
    return get(sandbox.logilica_url + path, base, data)


def valid_build(build_id: str = "1950119109857382400") -> dict:
    return {
        "origin": "OpenShift_CI",
        "originalID": build_id,
        "name": "periodic-ci-codeready-toolchain-toolchain-e2e-master-ci-daily",
        "url": f"https://prow.ci.openshift.org/view/gs/b/logs/j/{build_id}",
        "startedAt": 1753861234,
        "createdAt": 1753861234,
        "completedAt": 1753865012,
        "triggeredBy": {"name": "periodic"},
        "status": "Completed",
        "conclusion": "Success",
        "repoUrl": "https://github.com/codeready-toolchain/toolchain-e2e",
        "commit": "0" * 40,
        "pullRequestUrls": [],
        "isDeployment": False,
        "stages": [
            {
                "name": "e2e",
                "id": build_id,
                "startedAt": 1,
                "completedAt": 2,
                "status": "Completed",
                "conclusion": "Success",
                "jobs": [],
            }
        ],
    }


@pytest.mark.parametrize(
    "headers",
    [{"X-lgca-token": ""}, {"X-lgca-token": "sandbox-token-wrong"}, {"x-lgca-domain": "redhat"}],
)
def test_logilica_rejects_bad_credentials(sandbox: Sandbox, headers: dict[str, str]) -> None:
    status, _, body = logilica(sandbox, "/repositories", **headers)
    assert status == 401 and json.loads(body)["error"]
    assert b"sandbox-token" not in body
    status, _, body = logilica(sandbox, "/ci_build/r-1/create", [valid_build()], **headers)
    assert status == 401 and sandbox.recorder.received() == []


def test_logilica_records_valid_posts(sandbox: Sandbox) -> None:
    status, _, body = logilica(sandbox, "/repositories")
    repos = json.loads(body)
    assert status == 200 and repos == sandbox.world.repositories
    repo_id = sandbox.world.repository_id("codeready-toolchain/toolchain-e2e")
    status, _, _ = logilica(sandbox, f"/ci_build/{repo_id}/create", [valid_build(), valid_build()])
    assert status == 200
    assert sandbox.recorder.received() == [(repo_id, valid_build())] * 2
    assert sandbox.recorder.count_by_id() == Counter({"1950119109857382400": 2})
    assert sandbox.recorder.posts == 1 and sandbox.recorder.repository_calls == 1


def _without(field: str) -> dict:
    build = valid_build()
    del build[field]
    return build


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"builds": []}, "JSON array"),
        (["x"], "build[0]: must be an object"),
        ([valid_build(), _without("commit")], "build[1]: missing field 'commit'"),
        ([{**valid_build(), "startedAt": "1753861234"}], "'startedAt' must be integer"),
        ([{**valid_build(), "completedAt": 1753865012000}], "not epoch seconds"),
        ([{**valid_build(), "conclusion": "success"}], "'conclusion' must be one of"),
        ([{**valid_build(), "isDeployment": "no"}], "'isDeployment' must be boolean"),
        ([{**valid_build(), "triggeredBy": None}], "'triggeredBy' must be object"),
    ],
)
def test_logilica_rejects_invalid_bodies(sandbox: Sandbox, body: object, problem: str) -> None:
    status, _, answer = logilica(sandbox, "/ci_build/r-1/create", body)
    assert status == 400 and problem in json.loads(answer)["error"]
    assert sandbox.recorder.received() == [] and sandbox.recorder.posts == 1


def test_logilica_unknown_and_rejected_repos(sandbox: Sandbox) -> None:
    status, _, _ = logilica(sandbox, "/ci_build/r-999/create", [valid_build()])
    assert status == 404
    sandbox.faults.reject_repos = frozenset({"openshift/origin"})
    repo_id = sandbox.world.repository_id("openshift/origin")
    status, _, _ = logilica(sandbox, f"/ci_build/{repo_id}/create", [valid_build()])
    assert status == 422 and sandbox.recorder.received() == []


# --- faults, changes while running, lifecycle --------------------------------------------------


def test_faults_apply_at_runtime(sandbox: Sandbox) -> None:
    path = sandbox.world.jobs[0].history_path()
    sandbox.faults.error_rate = 1.0
    assert get(sandbox.deck_url + path)[0] == 503
    assert logilica(sandbox, "/repositories")[0] == 503
    sandbox.faults.error_rate = 0.0
    sandbox.faults.latency = 0.2
    began = time.perf_counter()
    assert get(sandbox.deck_url + path)[0] == 200
    assert time.perf_counter() - began >= 0.2


def test_faults_error_rate_is_seeded() -> None:
    first, second = Faults(error_rate=0.5, seed=7), Faults(error_rate=0.5, seed=7)
    draws = [first.should_fail("gcs") for _ in range(40)]
    assert draws == [second.should_fail("gcs") for _ in range(40)]
    assert 5 < sum(draws) < 35
    assert not Faults(error_rate=1.0, error_services=frozenset({"deck"})).should_fail("gcs")


def test_finish_and_add_builds_while_running(tmp_path) -> None:
    threads_before = set(threading.enumerate())
    with Sandbox() as sb:
        running = sb.world.running_builds()[0]
        job = sb.world.job(running.job)
        sb.finish_build(job.name, running.id, "FAILURE")
        builds, _, _ = fetch_page(sb, job.history_path())
        assert builds[0]["ID"] == running.id and builds[0]["Result"] == "FAILURE"
        status, _, body = get(object_url(sb, running.bucket, f"{running.path}/finished.json"))
        assert status == 200 and json.loads(body)["result"] == "FAILURE"
        with pytest.raises(ValueError, match="already finished"):
            sb.finish_build(job.name, running.id)

        added = sb.add_builds(job.name, 2, running=True)
        builds, _, _ = fetch_page(sb, job.history_path())
        assert [b["ID"] for b in builds[:3]] == [added[1].id, added[0].id, running.id]
        assert builds[0]["Result"] == "PENDING"
        _, _, body = get(object_url(sb, job.bucket, f"{job.history_root()}/latest-build.txt"))
        assert body.decode() == added[1].id

        jobs_yaml = sb.write_jobs_yaml(tmp_path, jobs=[job.name], extra={"defaults": {"x": 1}})
        text = jobs_yaml.read_text()
        assert text.startswith("logilica:\n  domain: sandbox\njobs:\n  - url: http://127.0.0.1:")
        doc = yaml.safe_load(text)
        assert doc == {
            "logilica": {"domain": "sandbox"},
            "jobs": [{"url": sb.job_urls()[job.name]}],
            "defaults": {"x": 1},
        }
        assert sb.env()["STORAGE_EMULATOR_HOST"] == sb.gcs_url
    assert set(threading.enumerate()) <= threads_before  # nothing leaked


def test_generated_sandbox_seeds_quickly() -> None:
    world: World = generated_world(20, 200)
    with Sandbox(world) as sb:
        assert sb.timings["seed"] < 10.0
        job = world.jobs[-1]
        pages = walk(sb, job.history_path())
        assert sum(len(p) for p in pages) == 200


# --- world-shaping switches (bucket moves, missing files, listings) ---------------------------


def _list(sandbox: Sandbox, bucket: str, prefix: str) -> tuple[int, dict]:
    query = urllib.parse.urlencode({"prefix": prefix, "delimiter": "/"})
    status, _, body = get(f"{sandbox.gcs_url}/storage/v1/b/{bucket}/o?{query}")
    return status, json.loads(body)


def test_listing_can_be_refused_while_objects_stay_readable() -> None:
    with Sandbox(faults=Faults.parse("deny_list=test-platform-results")) as sb:
        job = sb.world.jobs[0]
        status, body = _list(sb, "test-platform-results", f"logs/{job.name}/")
        assert status == 401 and "storage.objects.list" in body["error"]["message"]
        build = job.builds[-1]
        status, _, _ = get(object_url(sb, build.bucket, f"{build.path}/started.json"))
        assert status == 200
        assert _list(sb, PUBLIC_BUCKET, f"logs/{job.name}/")[0] == 200


def test_moved_job_keeps_its_url_and_deck_names_the_new_bucket() -> None:
    name = default_world().jobs[0].name
    with Sandbox(faults=Faults.parse(f"moved={name}")) as sb:
        job = sb.world.job(name)
        assert job.bucket == "test-platform-results"
        moved = [b for b in job.builds if b.bucket == MOVED_BUCKET]
        assert moved and len(moved) < len(job.builds)
        builds, _, _ = fetch_page(sb, job.history_path())
        assert builds[0]["SpyglassLink"].startswith(f"/view/gs/{MOVED_BUCKET}/")
        status, listing = _list(sb, MOVED_BUCKET, f"logs/{name}/")
        assert status == 200 and f"logs/{name}/{moved[0].id}/" in listing["prefixes"]
        assert moved[0].prowjob_json["status"]["url"].endswith(moved[0].spyglass_path)


def test_job_without_prowjob_shows_no_refs() -> None:
    name = next(j.name for j in default_world().jobs if j.presubmit)
    with Sandbox(faults=Faults.parse(f"no_prowjob={name}")) as sb:
        job = sb.world.job(name)
        builds, _, _ = fetch_page(sb, job.history_path())
        assert builds and all(b["Refs"] is None for b in builds)
        build = job.builds[1]
        assert get(object_url(sb, build.bucket, f"{build.path}/prowjob.json"))[0] == 404
        assert get(object_url(sb, build.bucket, f"{build.path}/started.json"))[0] == 200


def test_unlisted_job_lists_empty_but_is_there() -> None:
    name = default_world().jobs[0].name
    with Sandbox(faults=Faults.parse(f"unlisted={name}")) as sb:
        status, listing = _list(sb, "test-platform-results", f"logs/{name}/")
        assert status == 200 and not listing.get("prefixes")
        other = sb.world.jobs[1]
        assert _list(sb, "test-platform-results", f"logs/{other.name}/")[1]["prefixes"]


def test_faults_naming_an_unknown_job_are_refused() -> None:
    with pytest.raises(ValueError, match="no-such-job"):
        Sandbox(faults=Faults.parse("moved=no-such-job"))


def test_gcs_serves_step_graphs_some_gzipped_some_absent(sandbox: Sandbox) -> None:
    from crawler.prow.stepgraph import STEP_GRAPH
    from crawler.sandbox.stepgraph import graph_for, graph_gzipped

    seen = {"plain": 0, "gzip": 0, "none": 0}
    for build in sandbox.world.finished_builds()[:60]:
        status, headers, body = get(object_url(sandbox, build.bucket, f"{build.path}/{STEP_GRAPH}"))
        graph = graph_for(build)
        if graph is None:
            assert status == 404
            seen["none"] += 1
            continue
        assert status == 200 and json.loads(body) == graph
        assert headers["x-goog-stored-content-encoding"] == (
            "gzip" if graph_gzipped(build) else "identity"
        )
        seen["gzip" if graph_gzipped(build) else "plain"] += 1
    assert all(seen.values()), seen
    running = sandbox.world.running_builds()[0]
    assert get(object_url(sandbox, running.bucket, f"{running.path}/{STEP_GRAPH}"))[0] == 404
