"""crawler.logilica.stages: ci-operator's step graph -> Logilica stages (an external contract)."""

from __future__ import annotations

import calendar
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.core.times import epoch_seconds
from crawler.logilica.stages import step_stages
from crawler.prow.stepgraph import STEP_GRAPH

BUILD = "1950000000000000000"
URL = "https://prow.ci.openshift.org/view/gs/test-platform-results/logs/job/1950000000000000000"
T0 = calendar.timegm((2026, 7, 30, 8, 0, 0))
STAGE_KEYS = ["name", "id", "url", "startedAt", "completedAt", "status", "conclusion", "jobs"]
JOB_KEYS = ["name", "startedAt", "completedAt", "status", "conclusion"]


def at(offset: int, fraction: str = "") -> str:
    """RFC 3339 as Go writes it, `offset` seconds after T0."""
    stamp = datetime.fromtimestamp(T0 + offset, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}{'.' + fraction if fraction else ''}Z"


def step(name: str, start: int | None, end: int | None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "description": f"step {name}", "dependencies": []}
    out["started_at"] = None if start is None else at(start)
    out["finished_at"] = None if end is None else at(end)
    return {**out, **extra}


def stages(graph: Any) -> list[dict[str, Any]] | None:
    return step_stages(graph, build_id=BUILD, url=URL)


def names(result: list[dict[str, Any]] | None) -> list[str]:
    assert result is not None
    return [s["name"] for s in result]


# --- examples ----------------------------------------------------------------------------


def test_step_graph_path() -> None:
    assert STEP_GRAPH == "artifacts/ci-operator-step-graph.json"


def test_full_mapping_of_a_small_graph() -> None:
    graph = [
        step("src", 0, 60, duration=60 * 10**9, failed=False),
        step(
            "e2e-aws-ovn",
            100,
            900,
            failed=True,
            log_url="https://example.invalid/log",
            manifests=[{"kind": "Pod", "metadata": {"name": "x" * 1000}}],
            substeps=[
                step("e2e-aws-ovn-ipi-install-install", 110, 500, failed=False),
                step("e2e-aws-ovn-openshift-e2e-test", 500, 800, failed=True),
                step("e2e-aws-ovn-gather-must-gather", 800, 890, failed=False),
            ],
        ),
    ]
    result = stages(graph)
    assert result == [
        {
            "name": "src",
            "id": f"{BUILD}:src",
            "url": URL,
            "startedAt": T0,
            "completedAt": T0 + 60,
            "status": "Completed",
            "conclusion": "Success",
            "jobs": [
                {
                    "name": "src",
                    "startedAt": T0,
                    "completedAt": T0 + 60,
                    "status": "Completed",
                    "conclusion": "Success",
                }
            ],
        },
        {
            "name": "e2e-aws-ovn",
            "id": f"{BUILD}:e2e-aws-ovn",
            "url": URL,
            "startedAt": T0 + 100,
            "completedAt": T0 + 900,
            "status": "Completed",
            "conclusion": "Failure",
            "jobs": [
                {
                    "name": "e2e-aws-ovn-ipi-install-install",
                    "startedAt": T0 + 110,
                    "completedAt": T0 + 500,
                    "status": "Completed",
                    "conclusion": "Success",
                },
                {
                    "name": "e2e-aws-ovn-openshift-e2e-test",
                    "startedAt": T0 + 500,
                    "completedAt": T0 + 800,
                    "status": "Completed",
                    "conclusion": "Failure",
                },
                {
                    "name": "e2e-aws-ovn-gather-must-gather",
                    "startedAt": T0 + 800,
                    "completedAt": T0 + 890,
                    "status": "Completed",
                    "conclusion": "Success",
                },
            ],
        },
    ]
    assert result is not None
    assert [list(s) for s in result] == [STAGE_KEYS, STAGE_KEYS]
    assert all(list(job) == JOB_KEYS for s in result for job in s["jobs"])
    json.dumps(result)  # plain JSON values only


def test_stages_are_ordered_by_start_not_by_array_order() -> None:
    graph = [step("src", 0, 30), step("bin", 40, 90), step("[release-inputs]", 5, 20)]
    assert names(stages(graph)) == ["src", "[release-inputs]", "bin"]


def test_jobs_are_ordered_by_start_not_by_array_order() -> None:
    subs = [step("post", 300, 310), step("pre", 100, 200), step("test", 200, 300)]
    result = stages([step("e2e", 90, 320, substeps=subs)])
    assert result is not None
    assert [j["name"] for j in result[0]["jobs"]] == ["pre", "test", "post"]


def test_ties_in_start_second_are_broken_by_name() -> None:
    graph = [
        {"name": "zeta", "started_at": at(10, "9"), "finished_at": at(20)},
        {"name": "alpha", "started_at": at(10, "1"), "finished_at": at(20)},
        {"name": "mid", "started_at": at(10), "finished_at": at(11)},
        {"name": "first", "started_at": at(9, "999999999"), "finished_at": at(30)},
    ]
    assert names(stages(graph)) == ["first", "alpha", "mid", "zeta"]
    subs = [
        {"name": "b", "started_at": at(5, "5"), "finished_at": at(6)},
        {"name": "a", "started_at": at(5, "7"), "finished_at": at(6)},
    ]
    result = stages([step("parent", 0, 10, substeps=subs)])
    assert result is not None
    assert [j["name"] for j in result[0]["jobs"]] == ["a", "b"]


def test_failed_substep_makes_the_parent_fail_even_without_its_flag() -> None:
    subs = [step("install", 10, 20, failed=True), step("gather", 20, 30, failed=False)]
    result = stages([step("e2e", 0, 40, substeps=subs)])
    assert result is not None
    assert result[0]["conclusion"] == "Failure"
    assert [j["conclusion"] for j in result[0]["jobs"]] == ["Failure", "Success"]


def test_failed_substep_that_never_ran_still_fails_the_parent() -> None:
    subs = [{"name": "install", "started_at": None, "finished_at": None, "failed": True}]
    result = stages([step("e2e", 0, 40, substeps=subs)])
    assert result is not None
    assert result[0]["conclusion"] == "Failure"
    assert result[0]["jobs"] == [
        {
            "name": "e2e",
            "startedAt": T0,
            "completedAt": T0 + 40,
            "status": "Completed",
            "conclusion": "Failure",
        }
    ]


def test_failed_step_with_passing_substeps() -> None:
    result = stages([step("e2e", 0, 40, failed=True, substeps=[step("a", 1, 2, failed=False)])])
    assert result is not None
    assert result[0]["conclusion"] == "Failure"
    assert result[0]["jobs"][0]["conclusion"] == "Success"


@pytest.mark.parametrize(
    "substeps",
    [
        None,
        [],
        [step("never", None, None)],
        [{"name": "half", "started_at": at(1)}],
        "not a list",
        {"name": "a dict"},
    ],
    ids=["absent", "empty", "none-ran", "half-ran", "string", "dict"],
)
def test_step_without_ran_substeps_has_one_job_equal_to_itself(substeps: Any) -> None:
    entry = step("src", 0, 60, failed=True)
    if substeps is not None:
        entry["substeps"] = substeps
    result = stages([entry])
    assert result is not None
    (stage,) = result
    assert stage["jobs"] == [{k: v for k, v in stage.items() if k not in ("id", "url", "jobs")}]
    assert stage["jobs"][0]["name"] == "src"
    assert stage["jobs"][0]["conclusion"] == "Failure"


def test_steps_that_never_ran_are_left_out() -> None:
    graph = [
        step("ran", 0, 10),
        step("null-times", None, None),
        {"name": "absent-times", "description": "", "dependencies": None},
        {"name": "only-started", "started_at": at(5)},
        {"name": "only-finished", "finished_at": at(5)},
        {"name": "started-null-finish", "started_at": at(5), "finished_at": None},
        {"name": "null-start-finished", "started_at": None, "finished_at": at(5)},
    ]
    assert names(stages(graph)) == ["ran"]
    subs = [*graph[1:], step("sub-ran", 1, 2)]
    result = stages([step("parent", 0, 10, substeps=subs)])
    assert result is not None
    assert [j["name"] for j in result[0]["jobs"]] == ["sub-ran"]


@pytest.mark.parametrize(
    "graph",
    [
        [],
        [step("a", None, None), {"name": "b"}, {"name": "c", "started_at": at(1)}],
        [step("a", None, None, substeps=[step("sub", 0, 10)])],  # substeps alone make no stage
    ],
)
def test_no_step_that_ran_gives_none(graph: list[Any]) -> None:
    assert stages(graph) is None


@pytest.mark.parametrize(
    "graph", [None, {}, {"steps": [step("a", 0, 1)]}, "[]", 42, 1.5, True, b"[]"]
)
def test_not_a_list_gives_none(graph: Any) -> None:
    assert stages(graph) is None


def test_garbage_entries_are_skipped() -> None:
    graph = [
        None,
        1,
        "src",
        [step("nested", 0, 1)],
        {"name": "", "started_at": at(0), "finished_at": at(1)},
        {"name": 7, "started_at": at(0), "finished_at": at(1)},
        {"name": None, "started_at": at(0), "finished_at": at(1)},
        {"started_at": at(0), "finished_at": at(1)},
        {"name": "bad-start", "started_at": "yesterday", "finished_at": at(1)},
        {"name": "bad-end", "started_at": at(0), "finished_at": 1785398400},
        {"name": "naive", "started_at": "2026-07-30T08:00:00", "finished_at": at(1)},
        {"name": "date-only", "started_at": "2026-07-30", "finished_at": at(1)},
        {"name": "month-13", "started_at": "2026-13-30T08:00:00Z", "finished_at": at(1)},
        {"name": "ancient", "started_at": "1999-12-31T23:59:59Z", "finished_at": at(1)},
        {"name": "future", "started_at": at(0), "finished_at": "2100-01-01T00:00:01Z"},
        {"name": "list-time", "started_at": [at(0)], "finished_at": at(1)},
        step("good", 0, 1, failed="true", substeps=[None, 3, {"name": ""}, step("s", 0, 1)]),
        step("also-good", 2, 3, failed=1, substeps=[{"name": "x", "failed": "yes"}]),
    ]
    result = stages(graph)
    assert names(result) == ["good", "also-good"]
    assert result is not None
    assert [s["conclusion"] for s in result] == ["Success", "Success"]
    assert [j["name"] for j in result[0]["jobs"]] == ["s"]


def test_substep_without_a_name_cannot_fail_its_parent() -> None:
    subs = [{"name": "", "failed": True}, {"failed": True}, {"name": 3, "failed": True}]
    result = stages([step("e2e", 0, 10, substeps=subs)])
    assert result is not None
    assert result[0]["conclusion"] == "Success"


def test_duplicate_step_names_keep_the_first_that_ran() -> None:
    graph = [step("dup", None, None), step("dup", 50, 60), step("dup", 0, 10), step("x", 5, 6)]
    result = stages(graph)
    assert names(result) == ["x", "dup"]
    assert result is not None
    assert result[1]["startedAt"] == T0 + 50
    assert len({s["id"] for s in result}) == len(result)


def test_finish_before_start_is_clamped() -> None:
    result = stages([step("back", 100, 40, substeps=[step("sub", 90, 10), step("ok", 1, 2)])])
    assert result is not None
    (stage,) = result
    assert (stage["startedAt"], stage["completedAt"]) == (T0 + 100, T0 + 100)
    assert [(j["startedAt"], j["completedAt"]) for j in stage["jobs"]] == [
        (T0 + 1, T0 + 2),
        (T0 + 90, T0 + 90),
    ]


def test_fractional_seconds_and_offsets() -> None:
    graph = [
        {
            "name": "nano",
            "started_at": "2026-07-30T08:12:03.123456789Z",
            "finished_at": "2026-07-30T08:12:04.999999999Z",
        },
        {
            "name": "offset",
            "started_at": "2026-07-30T10:12:03.5+02:00",
            "finished_at": "2026-07-30T02:47:04-05:30",
        },
    ]
    result = stages(graph)
    assert result is not None
    base = calendar.timegm((2026, 7, 30, 8, 12, 3))
    assert [(s["name"], s["startedAt"], s["completedAt"]) for s in result] == [
        ("nano", base, base + 1),
        ("offset", base, base + 5 * 60 + 1),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-07-30T08:12:03Z", calendar.timegm((2026, 7, 30, 8, 12, 3))),
        ("2026-07-30T08:12:03.123456789Z", calendar.timegm((2026, 7, 30, 8, 12, 3))),
        ("2026-07-30T08:12:03.9Z", calendar.timegm((2026, 7, 30, 8, 12, 3))),
        ("2026-07-30T08:12:03.1234567Z", calendar.timegm((2026, 7, 30, 8, 12, 3))),
        ("2026-07-30T08:12:03+00:00", calendar.timegm((2026, 7, 30, 8, 12, 3))),
        ("2026-07-30T08:12:03.000000001-00:00", calendar.timegm((2026, 7, 30, 8, 12, 3))),
        ("2026-07-30t08:12:03z", calendar.timegm((2026, 7, 30, 8, 12, 3))),
        ("2026-07-30T00:30:00+01:00", calendar.timegm((2026, 7, 29, 23, 30, 0))),
        ("2026-07-30T23:30:00.75-01:00", calendar.timegm((2026, 7, 31, 0, 30, 0))),
        ("2000-01-01T00:00:00Z", 946_684_800),
        ("2100-01-01T00:00:00Z", 4_102_444_800),
        ("2000-01-01T00:30:00+01:00", None),  # 1999 in UTC
        ("1999-12-31T23:59:59.999999999Z", None),
        ("2100-01-01T00:00:01Z", None),
        ("9999-12-31T23:59:59-23:59", None),
        ("0001-01-01T00:00:00+23:59", None),
        ("2026-07-30T08:12:03.1234567890Z", None),  # 10 digits
        ("2026-07-30T08:12:03.Z", None),
        ("2026-07-30T08:12:03", None),
        ("2026-07-30 08:12:03Z", None),
        ("2026-07-30T08:12Z", None),
        ("2026-07-30T25:12:03Z", None),
        ("2026-02-30T08:12:03Z", None),
        ("2026-07-30T08:12:03+24:00", None),
        ("2026-07-30T08:12:03+0200", None),
        ("2026-07-30T08:12:60Z", None),
        ("\uff12\uff10\uff12\uff16-07-30T08:12:03Z", None),  # fullwidth digits
        ("", None),
        ("null", None),
        (None, None),
        (True, None),
        (1785398400, None),
        (1785398400.0, None),
        (math.nan, None),
        (math.inf, None),
        ({"seconds": 1}, None),
    ],
)
def test_epoch_seconds(text: Any, expected: int | None) -> None:
    assert epoch_seconds(text) == expected


# --- properties --------------------------------------------------------------------------

_LOW = calendar.timegm((2001, 1, 1, 0, 0, 0))
_HIGH = calendar.timegm((2099, 1, 1, 0, 0, 0))


def render(seconds: int, nanos: int, digits: int, offset_minutes: int) -> str:
    """`seconds`+`nanos` as RFC 3339 with `digits` fractional digits (nanos cut to them)."""
    zone = timezone(timedelta(minutes=offset_minutes))
    local = datetime.fromtimestamp(seconds, UTC).astimezone(zone)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{nanos:09d}"[:digits]
    if offset_minutes == 0:
        return text + "Z"
    sign = "+" if offset_minutes > 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


@st.composite
def moments(draw: st.DrawFn, low: int, high: int) -> tuple[int, str]:
    seconds = draw(st.integers(low, high))
    text = render(
        seconds,
        draw(st.integers(0, 999_999_999)),
        draw(st.integers(0, 9)),
        draw(st.sampled_from([0, 0, 60, -300, 330, -690, 840, -1439, 1439])),
    )
    return seconds, text


@settings(max_examples=300, deadline=None)
@given(st.integers(_LOW, _HIGH), st.integers(0, 999_999_999), st.integers(0, 9), st.data())
def test_epoch_seconds_is_the_floor_of_any_rfc3339_time(
    seconds: int, nanos: int, digits: int, data: st.DataObject
) -> None:
    offset = data.draw(st.integers(-23 * 60 - 59, 23 * 60 + 59))
    assert epoch_seconds(render(seconds, nanos, digits, offset)) == seconds


# A drawn step: its JSON and what the mapping should make of it.
Drawn = tuple[dict[str, Any], tuple[int, int] | None, bool]


@st.composite
def drawn_steps(draw: st.DrawFn, name: str, low: int, high: int) -> Drawn:
    """A step named `name` whose times (if any) lie in [low, high]; end may precede start."""
    out: dict[str, Any] = {"name": name, "description": "", "dependencies": None}
    times: list[int | None] = []
    for key in ("started_at", "finished_at"):
        how = draw(st.sampled_from(["time", "time", "time", "null", "absent", "garbage"]))
        if how == "time":
            seconds, text = draw(moments(low, high))
            out[key] = text
            times.append(seconds)
        else:
            if how != "absent":
                out[key] = None if how == "null" else draw(st.sampled_from(["", "x", 5, []]))
            times.append(None)
    flag = draw(st.sampled_from([True, False, None, "true", 1]))
    if flag is not None:
        out["failed"] = flag
    start, end = times
    ran = (start, max(start, end)) if start is not None and end is not None else None
    return out, ran, flag is True


@st.composite
def graphs(draw: st.DrawFn) -> tuple[int, int, list[dict[str, Any]], list[Any]]:
    """(build start, build end, graph, expectations): top-level names unique."""
    low = draw(st.integers(_LOW, _HIGH - 10))
    high = draw(st.integers(low, min(_HIGH, low + 4 * 3600)))
    top_names = draw(st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8))
    graph: list[dict[str, Any]] = []
    expected: list[Any] = []
    for name in top_names:
        entry, ran, failed = draw(drawn_steps(name, low, high))
        subs: list[Drawn] = []
        if draw(st.booleans()):
            sub_names = draw(st.lists(st.sampled_from(["p", "q", "r", "s"]), max_size=5))
            subs = [draw(drawn_steps(f"{name}-{sub}", low, high)) for sub in sub_names]
            entry["substeps"] = [sub for sub, _, _ in subs]
        graph.append(entry)
        expected.append((name, ran, failed, subs))
    return low, high, graph, expected


def _sorted_by_start_then_name(items: list[dict[str, Any]]) -> bool:
    keys = [(item["startedAt"], item["name"]) for item in items]
    return keys == sorted(keys)


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_properties_on_generated_graphs(
    drawn: tuple[int, int, list[dict[str, Any]], list[Any]],
) -> None:
    low, high, graph, expected = drawn
    result = stages(graph)
    ran_top = {name: (ran, failed, subs) for name, ran, failed, subs in expected if ran}
    if not ran_top:
        assert result is None
        return
    assert result is not None
    assert sorted(s["name"] for s in result) == sorted(ran_top)
    assert _sorted_by_start_then_name(result)
    everything = [ran for ran, _, subs in ran_top.values() for ran in [ran, *(s[1] for s in subs)]]
    spans = [ran for ran in everything if ran is not None]
    earliest, latest = min(s for s, _ in spans), max(e for _, e in spans)
    for stage in result:
        assert list(stage) == STAGE_KEYS
        assert stage["id"] == f"{BUILD}:{stage['name']}"
        assert stage["url"] == URL
        assert stage["status"] == "Completed"
        ran, failed, subs = ran_top[stage["name"]]
        assert (stage["startedAt"], stage["completedAt"]) == ran
        any_failed = failed or any(sub_failed for _, _, sub_failed in subs)
        assert stage["conclusion"] == ("Failure" if any_failed else "Success")
        assert _sorted_by_start_then_name(stage["jobs"])
        ran_subs = sorted((sub["name"], sub_ran) for sub, sub_ran, _ in subs if sub_ran)
        if ran_subs:
            got = sorted((j["name"], (j["startedAt"], j["completedAt"])) for j in stage["jobs"])
            assert got == ran_subs
        else:
            plain = {k: v for k, v in stage.items() if k not in ("id", "url", "jobs")}
            assert stage["jobs"] == [plain]
        for item in [stage, *stage["jobs"]]:
            assert earliest <= item["startedAt"] <= item["completedAt"] <= latest
            assert low <= item["startedAt"] <= item["completedAt"] <= high
            assert type(item["startedAt"]) is int and type(item["completedAt"]) is int
        for job in stage["jobs"]:
            assert list(job) == JOB_KEYS
            assert job["conclusion"] in ("Success", "Failure")
            if job["conclusion"] == "Failure":
                assert stage["conclusion"] == "Failure"


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["2026-07-30T08:12:03Z", "2026-07-30T08:12:03.123456789+05:30"]),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["name", "started_at", "finished_at", "failed", "substeps", "x"])
            | st.text(max_size=10),
            children,
            max_size=6,
        )
    ),
    max_leaves=40,
)


@settings(max_examples=500, deadline=None)
@given(_JSON)
def test_never_raises_on_arbitrary_json(graph: Any) -> None:
    result = stages(graph)
    if result is None:
        return
    assert isinstance(graph, list)
    assert result
    assert _sorted_by_start_then_name(result)
    for stage in result:
        assert list(stage) == STAGE_KEYS
        assert isinstance(stage["name"], str) and stage["name"]
        assert stage["startedAt"] <= stage["completedAt"]
        assert stage["jobs"]
        for job in stage["jobs"]:
            assert list(job) == JOB_KEYS
            assert job["startedAt"] <= job["completedAt"]
    json.dumps(result, allow_nan=False)
