"""Step-level stages end to end: what Logilica receives for builds with and without a
ci-operator step graph, and `stages: build`."""

from __future__ import annotations

from crawler.logilica.stages import step_stages
from crawler.prow.stepgraph import STEP_GRAPH
from crawler.sandbox import Faults, Sandbox
from crawler.sandbox.stepgraph import graph_for, graph_gzipped
from tests.e2e.conftest import assert_exactly_once, run_json


def _single_stage(build: dict) -> list[dict]:
    """The build as its own one stage, as before step stages."""
    keys = ("name", "startedAt", "completedAt", "status", "conclusion")
    step = {k: build[k] for k in keys}
    return [{**step, "id": build["originalID"], "url": build["url"], "jobs": [dict(step)]}]


def _graph_reads(sb: Sandbox) -> list[str]:
    return [h.path for h in sb.faults.hits("gcs") if "ci-operator-step-graph" in h.path]


def test_builds_with_a_graph_get_step_stages_the_others_one_stage(sandbox, tmp_path):
    run_json(sandbox, tmp_path, "--limit", "0")
    assert_exactly_once(sandbox, tmp_path / "tracker")
    by_id = {b.id: b for b in sandbox.world.finished_builds()}
    stepped = single = failed_steps = gzipped = 0
    for _repo, build in sandbox.recorder.received():
        src = by_id[build["originalID"]]
        graph = graph_for(src)
        expected = step_stages(graph, build_id=src.id, url=build["url"]) if graph else None
        if expected:
            assert build["stages"] == expected
            stepped += 1
            gzipped += graph_gzipped(src)
            failed_steps += any(s["conclusion"] == "Failure" for s in build["stages"])
            for stage in build["stages"]:  # within the build's own time span
                assert src.started <= stage["startedAt"] <= stage["completedAt"] <= src.finished
        else:
            assert build["stages"] == _single_stage(build)
            single += 1
        # The build keeps its own conclusion, from finished.json, whatever its steps say.
        assert build["conclusion"] == {"SUCCESS": "Success", "ABORTED": "Cancelled"}.get(
            src.result, "Failure"
        )
    assert stepped > 100 and single > 5 and failed_steps > 10 and gzipped > 10
    # One read of each finished build's graph, a 404 where there is none.
    assert len(_graph_reads(sandbox)) == len(by_id)


def test_stages_build_sends_todays_single_stage_and_reads_no_graph(sandbox, tmp_path):
    sandbox.write_jobs_yaml(tmp_path / "jobs.yaml", extra={"defaults": {"stages": "build"}})
    run_json(sandbox, tmp_path, "--limit", "0")
    assert_exactly_once(sandbox, tmp_path / "tracker")
    for _repo, build in sandbox.recorder.received():
        assert build["stages"] == _single_stage(build)
    assert _graph_reads(sandbox) == []


def test_dry_run_verbose_shows_the_stages(sandbox, tmp_path):
    job = sandbox.world.jobs[0]
    oldest = [b for b in reversed(job.builds) if not b.running][:5]
    res = run_json(sandbox, tmp_path, "--dry-run", "--verbose", "--job", job.name, "--limit", "5")
    out = res["_output"]
    assert out.count("would-upload job=") == 5 and '"stages": [' in out
    for build in oldest:
        stepped = f'"id": "{build.id}:src"' in out
        assert stepped == (graph_for(build) is not None), build.id


def test_an_unreadable_graph_never_fails_its_build(tmp_path):
    """Graphs served corrupt (broken gzip, or not JSON): those builds go with one stage."""
    broken = [b for b in Sandbox().world.finished_builds() if graph_for(b)][:6]
    assert any(graph_gzipped(b) for b in broken) or len(broken) == 6
    spec = "corrupt=" + "+".join(f"{b.path}/{STEP_GRAPH}" for b in broken)
    with Sandbox(faults=Faults.parse(spec)) as sb:
        summary = run_json(sb, tmp_path, "--limit", "0")
        assert summary["totals"]["failed"] == 0
        assert_exactly_once(sb, tmp_path / "tracker")
        received = {b["originalID"]: b for _, b in sb.recorder.received()}
        for build in broken:
            assert received[build.id]["stages"] == _single_stage(received[build.id])
        assert sb.faults.injected()["corrupt-gzip"] + sb.faults.injected()["malformed"] >= 6
