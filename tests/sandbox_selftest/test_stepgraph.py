"""The sandbox's ci-operator step graphs must look like the real ones and map to stages."""

from __future__ import annotations

import calendar
import json
import random
import re
from collections import Counter
from typing import Any

import pytest

from crawler.logilica.stages import step_stages
from crawler.sandbox.stepgraph import graph_bytes, make_step_graph

NS = 1_000_000_000
T0 = calendar.timegm((2026, 7, 30, 9, 0, 0))
TEST = "e2e-aws-ovn"
# How long builds of each result take in the sandbox world (crawler.sandbox.buildmaker.duration).
DURATIONS = {
    "SUCCESS": (40 * 60, 3 * 3600),
    "FAILURE": (10 * 60, 3 * 3600),
    "ABORTED": (60, 3600),
    "ERROR": (30, 300),
}
GO_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z")
POST = ("gather-must-gather", "gather-extra", "ipi-deprovision-deprovision")
SEEDS = range(400)


def nanos(text: str) -> int:
    """A Go RFC3339Nano UTC time in epoch nanoseconds (exact, unlike float parsing)."""
    match = GO_TIME.fullmatch(text)
    assert match is not None, text
    *fields, fraction = match.groups()
    assert fraction is None or not fraction.endswith("0"), f"Go trims trailing zeros: {text}"
    seconds = calendar.timegm(tuple(int(f) for f in fields))  # type: ignore[arg-type]
    return seconds * NS + int((fraction or "").ljust(9, "0"))


def build(seed: int, result: str) -> tuple[int, int, list[dict[str, Any]] | None]:
    rng = random.Random(f"stepgraph-test-{seed}-{result}")
    started = T0 - rng.randint(0, 30 * 86400)
    finished = started + rng.randint(*DURATIONS[result])
    graph = make_step_graph(rng, started=started, finished=finished, result=result, test_name=TEST)
    return started, finished, graph


def graphs(result: str) -> list[tuple[int, int, list[dict[str, Any]]]]:
    out = []
    for seed in SEEDS:
        started, finished, graph = build(seed, result)
        if graph is not None:
            out.append((started, finished, graph))
    return out


def all_steps(graph: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for step in graph for s in [step, *step.get("substeps", [])]]


def ran(step: dict[str, Any]) -> bool:
    return step.get("started_at") is not None


def test_determinism() -> None:
    for seed in range(30):
        for result in DURATIONS:
            first, second = build(seed, result), build(seed, result)
            assert first == second
            if first[2] is not None:
                assert graph_bytes(first[2]) == graph_bytes(second[2])  # type: ignore[arg-type]
    one = make_step_graph(
        random.Random(1), started=T0, finished=T0 + 3600, result="SUCCESS", test_name=TEST
    )
    two = make_step_graph(
        random.Random(2), started=T0, finished=T0 + 3600, result="SUCCESS", test_name=TEST
    )
    assert one != two


def test_about_a_tenth_of_builds_have_no_graph() -> None:
    results = [build(seed, result)[2] for seed in range(500) for result in DURATIONS]
    share = sum(graph is None for graph in results) / len(results)
    assert 0.07 <= share <= 0.13


@pytest.mark.parametrize("result", list(DURATIONS))
def test_times_lie_in_the_build_and_durations_match(result: str) -> None:
    fractional = whole = 0
    for started, finished, graph in graphs(result):
        for step in all_steps(graph):
            assert set(step) <= {
                "name",
                "description",
                "dependencies",
                "started_at",
                "finished_at",
                "duration",
                "manifests",
                "log_url",
                "failed",
                "substeps",
            }
            assert isinstance(step["name"], str) and step["name"]
            assert isinstance(step["description"], str) and step["description"]
            if not ran(step):
                assert step.get("finished_at") is None
                assert "duration" not in step and "failed" not in step
                continue
            start, end = nanos(step["started_at"]), nanos(step["finished_at"])
            assert started * NS <= start <= end <= finished * NS
            assert isinstance(step["duration"], int) and step["duration"] == end - start
            assert isinstance(step["failed"], bool)
            fractional += "." in step["started_at"]
            whole += "." not in step["started_at"]
        for step in graph:
            for sub in step.get("substeps", []):
                assert "substeps" not in sub
                assert nanos(step["started_at"]) <= nanos(sub["started_at"])
                assert nanos(sub["finished_at"]) <= nanos(step["finished_at"])
    assert fractional and whole


@pytest.mark.parametrize("result", list(DURATIONS))
def test_graph_shape(result: str) -> None:
    for _, _, graph in graphs(result):
        names = [step["name"] for step in graph]
        assert len(set(names)) == len(names)
        assert {"src", "bin", "[images]", "[release:latest]", TEST} <= set(names)
        for index, step in enumerate(graph):  # dependency order: dependencies come first
            assert set(step["dependencies"]) <= set(names[:index])
        test = graph[names.index(TEST)]
        for sub in test.get("substeps", []):
            assert sub["name"].startswith(f"{TEST}-")
            assert sub["failed"] in (True, False)


def test_failure_builds_fail_in_one_substep_and_stop_the_main_graph() -> None:
    failing_pods: Counter[str] = Counter()
    for _, _, graph in graphs("FAILURE"):
        names = [step["name"] for step in graph]
        test = graph[names.index(TEST)]
        assert test["failed"] is True
        failed = [sub for sub in test["substeps"] if sub["failed"]]
        assert len(failed) == 1
        failing_pods[failed[0]["name"]] += 1
        after = test["substeps"][test["substeps"].index(failed[0]) + 1 :]
        assert [sub["name"] for sub in after] == [f"{TEST}-{post}" for post in POST]
        assert all(not sub["failed"] for sub in after)
        for step in graph[names.index(TEST) + 1 :]:
            assert not ran(step)
        assert all(step["failed"] is False for step in graph if ran(step) and step is not test)
    assert len(failing_pods) >= 3


@pytest.mark.parametrize("result", ["ABORTED", "ERROR"])
def test_aborted_and_errored_builds_have_steps_that_never_ran(result: str) -> None:
    forms = Counter()
    for _, _, graph in graphs(result):
        never = [step for step in graph if not ran(step)]
        assert never
        for step in never:
            forms["null" if "started_at" in step else "absent"] += 1
            assert step.get("started_at") is None and step.get("finished_at") is None
    assert forms["null"] and forms["absent"]


def test_success_builds_have_no_failure_but_sometimes_a_skipped_step() -> None:
    skipped = 0
    for _, _, graph in graphs("SUCCESS"):
        assert all(step.get("failed") is not True for step in all_steps(graph))
        skipped += any(not ran(step) for step in graph)
    assert skipped > 0


@pytest.mark.parametrize("result", list(DURATIONS))
def test_graphs_map_to_stages_with_matching_conclusions(result: str) -> None:
    for _, _, graph in graphs(result):
        # Through the bytes, as the crawler reads it from GCS.
        decoded = json.loads(graph_bytes(graph))
        assert decoded == graph
        stages = step_stages(decoded, build_id="42", url="https://prow.example/view/42")
        assert stages is not None
        by_name = {step["name"]: step for step in graph}
        assert sorted(s["name"] for s in stages) == sorted(n for n, s in by_name.items() if ran(s))
        for stage in stages:
            step = by_name[stage["name"]]
            assert stage["conclusion"] == ("Failure" if step["failed"] else "Success")
            subs = {sub["name"]: sub for sub in step.get("substeps", [])}
            for job in stage["jobs"]:
                if subs:
                    expected = "Failure" if subs[job["name"]]["failed"] else "Success"
                    assert job["conclusion"] == expected
            if result == "SUCCESS":
                assert stage["conclusion"] == "Success"
        if result == "FAILURE":
            assert next(s for s in stages if s["name"] == TEST)["conclusion"] == "Failure"


def test_some_graph_is_not_in_time_order() -> None:
    out_of_order = 0
    for result in DURATIONS:
        for _, _, graph in graphs(result):
            starts = [nanos(step["started_at"]) for step in graph if ran(step)]
            out_of_order += starts != sorted(starts)
    assert out_of_order > 0


def test_graph_bytes_escape_like_go() -> None:
    graph = [{"name": "<a&b>", "description": "x", "dependencies": None}]
    assert graph_bytes(graph) == (
        b'[{"name":"\\u003ca\\u0026b\\u003e","description":"x","dependencies":null}]'
    )


@pytest.mark.parametrize("result", list(DURATIONS))
def test_zero_length_build(result: str) -> None:
    produced = 0
    for seed in range(40):
        graph = make_step_graph(
            random.Random(seed), started=T0, finished=T0, result=result, test_name=TEST
        )
        if graph is None:
            continue
        produced += 1
        for step in all_steps(graph):
            if ran(step):
                assert nanos(step["started_at"]) == nanos(step["finished_at"]) == T0 * NS
        assert step_stages(graph, build_id="1", url="u") is not None
    assert produced


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="result"):
        make_step_graph(
            random.Random(1), started=T0, finished=T0 + 1, result="PENDING", test_name=TEST
        )
    with pytest.raises(ValueError, match="before"):
        make_step_graph(
            random.Random(1), started=T0, finished=T0 - 1, result="SUCCESS", test_name=TEST
        )
