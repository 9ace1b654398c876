"""ci-operator's step graph -> Logilica stages and jobs. Pure: no I/O.

ci-operator writes ``artifacts/ci-operator-step-graph.json`` (openshift/ci-tools
``pkg/api/graph.go``, ``CIOperatorStepGraph``; docs/formats.md#ci-operator-step-graph): its
steps, in dependency order, become the stages of a build and the substeps of a multi-stage
test become that stage's jobs. `crawler.prow.stepgraph.StepGraphReader` reads the file as it
streams in, keeping only the fields the mapping needs (a step's `manifests` can be huge);
`step_stages` never raises.
"""

from __future__ import annotations

import operator
from typing import Any, NamedTuple

from crawler.core.times import epoch_seconds


class _Step(NamedTuple):
    """A step (or substep) that ran: both times known, the end clamped to the start. A tuple
    (not a frozen dataclass, whose __init__ costs four object.__setattr__ calls): a build's
    steps are made for every build."""

    started: int
    name: str
    completed: int
    failed: bool


# Steps are ordered by start, then name; sorted() keeps the graph's order for full ties.
_ORDER = operator.itemgetter(0, 1)


def _name(step: Any) -> str | None:
    name = step.get("name") if isinstance(step, dict) else None
    return name if isinstance(name, str) and name else None


def _failed(step: Any) -> bool:
    return _name(step) is not None and step.get("failed") is True


def _ran(step: Any, failed: bool = False) -> _Step | None:
    """The step when it is well formed and ran; `failed` adds failure from its substeps."""
    name = _name(step)
    if name is None:
        return None
    started = epoch_seconds(step.get("started_at"))
    if started is None:
        return None
    completed = epoch_seconds(step.get("finished_at"))
    if completed is None:
        return None
    return _Step(started, name, max(started, completed), failed or step.get("failed") is True)


def _substeps(step: dict[str, Any]) -> list[Any]:
    substeps = step.get("substeps")
    return substeps if isinstance(substeps, list) else []


def _job(step: _Step) -> dict[str, Any]:
    return {
        "name": step.name,
        "startedAt": step.started,
        "completedAt": step.completed,
        "status": "Completed",
        "conclusion": "Failure" if step.failed else "Success",
    }


def step_stages(graph: Any, *, build_id: str, url: str) -> list[dict[str, Any]] | None:
    """Logilica stages for a decoded step graph, one per top-level step that ran.

    None when the graph yields no stage, so that the caller keeps its single build stage.
    Duplicate step names keep only the first step that ran: stage IDs must be unique.
    """
    if not isinstance(graph, list):
        return None
    stages: list[tuple[_Step, list[_Step]]] = []
    seen: set[str] = set()
    for entry in graph:
        if not isinstance(entry, dict):
            continue
        substeps = _substeps(entry)
        step = _ran(entry, failed=any(_failed(sub) for sub in substeps))
        if step is None or step.name in seen:
            continue
        seen.add(step.name)
        jobs = [job for job in map(_ran, substeps) if job is not None]
        stages.append((step, sorted(jobs, key=_ORDER) or [step]))
    if not stages:
        return None
    stages.sort(key=lambda pair: _ORDER(pair[0]))
    return [
        {
            "name": step.name,
            "id": f"{build_id}:{step.name}",
            "url": url,
            "startedAt": step.started,
            "completedAt": step.completed,
            "status": "Completed",
            "conclusion": "Failure" if step.failed else "Success",
            "jobs": [_job(job) for job in jobs],
        }
        for step, jobs in stages
    ]


__all__ = ["step_stages"]
