"""Worlds for the sandbox to serve: the small default world covering every case the crawler
must handle, and big generated worlds of the same shapes for benchmarks, each the same on every
call (seeded).
"""

from __future__ import annotations

import calendar
import gc
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .buildmaker import BuildMaker, pick_result
from .records import (
    FINISHED,
    PRIVATE_BUCKET,
    PROWJOB,
    PUBLIC_BUCKET,
    STARTED,
    SandboxJob,
    snowflake,
)
from .world import DEFAULT_NOW, World

# The title that tests HTML/JSON escaping: markup, an ampersand, quotes and non-ASCII text.
ESCAPE_TITLE = 'OCPBUGS-4242: Escape <b>&"quotes"</b> in topology view — naïve ✓'


def _repositories(repos: list[str]) -> list[dict]:
    """Logilica's GET /repositories answer for these repos."""
    return [
        {"id": f"r-{i}", "name": name, "url": f"https://github.com/{name}"}
        for i, name in enumerate(repos, start=1)
    ]


# --- the default world ----------------------------------------------------------------------


@dataclass
class _Plan:
    """How one job's history looks, newest build first."""

    name: str
    kind: str
    repo: str
    builds: int
    spacing: tuple[int, int]
    results: dict[int, str] = field(default_factory=dict)  # index -> forced result
    running: set[int] = field(default_factory=set)
    crier: set[int] = field(default_factory=set)
    gzip: dict[int, frozenset[str]] = field(default_factory=dict)
    branch_commit: set[int] = field(default_factory=set)
    public_newest: int = 0  # newest N builds live in the public bucket
    small_ids: int = 0  # oldest N builds have tiny pre-snowflake IDs (16, 17, ...)
    titles: dict[int, str] = field(default_factory=dict)


_DEFAULT_PLANS = (
    _Plan(
        name="periodic-ci-codeready-toolchain-toolchain-e2e-master-ci-daily",
        kind="periodic",
        repo="codeready-toolchain/toolchain-e2e",
        builds=42,
        spacing=(4 * 3600, 8 * 3600),
        results={1: "FAILURE", 2: "SUCCESS", 5: "ABORTED", 9: "FAILURE"},
        running={0},
        crier={9},
    ),
    _Plan(
        name="branch-ci-openshift-origin-master-images",
        kind="postsubmit",
        repo="openshift/origin",
        builds=33,
        spacing=(1800, 12 * 3600),
        results={0: "SUCCESS", 3: "FAILURE", 4: "ABORTED", 12: "ERROR", 32: "SUCCESS"},
        crier={12},
        branch_commit={5, 6},
        gzip={0: frozenset({PROWJOB}), 3: frozenset({PROWJOB, FINISHED}), 7: frozenset({PROWJOB})},
        small_ids=3,
    ),
    _Plan(
        name="pull-ci-openshift-console-master-e2e-gcp-console",
        kind="presubmit",
        repo="openshift/console",
        builds=47,
        spacing=(600, 3 * 3600),
        results={0: "SUCCESS", 1: "FAILURE", 2: "ABORTED", 21: "SUCCESS"},
        gzip={1: frozenset({STARTED, PROWJOB})},
        titles={1: ESCAPE_TITLE, 21: ESCAPE_TITLE},
    ),
    _Plan(
        name="pull-ci-openshift-origin-master-e2e-aws-ovn",
        kind="presubmit",
        repo="openshift/origin",
        builds=26,
        spacing=(900, 4 * 3600),
        results={0: "FAILURE", 1: "SUCCESS", 6: "ABORTED"},
    ),
    _Plan(
        name="periodic-ci-openshift-release-master-ci-4.21-e2e-aws-ovn",
        kind="periodic",
        repo="openshift/release",
        builds=45,
        spacing=(2 * 3600, 6 * 3600),
        results={0: "SUCCESS", 11: "FAILURE", 12: "SUCCESS", 20: "ABORTED"},
        gzip={11: frozenset({PROWJOB}), 12: frozenset({PROWJOB})},
        public_newest=12,
    ),
)


def default_world() -> World:
    """A small world covering every case the crawler must handle (see the module tests)."""
    rng = random.Random("sandbox-default-world")
    jobs = [_plan_job(plan, node, rng) for node, plan in enumerate(_DEFAULT_PLANS)]
    repos = sorted({j.repo for j in jobs} | {"openshift/installer"})
    return World(jobs=jobs, repositories=_repositories(repos))


def _plan_job(plan: _Plan, node: int, rng: random.Random) -> SandboxJob:
    job = SandboxJob(name=plan.name, kind=plan.kind, bucket=PRIVATE_BUCKET, repo=plan.repo)
    maker = BuildMaker(rng, node)
    at = DEFAULT_NOW - rng.randint(600, 2400)
    # Made oldest first, so PR numbers and commits evolve forwards in time.
    starts = []
    for _ in range(plan.builds):
        starts.append(at)
        at -= rng.randint(*plan.spacing)
    builds = []
    for index in reversed(range(plan.builds)):
        old = index >= plan.builds - plan.small_ids
        started = starts[index]
        if old:  # a job from before snowflake IDs: 2018, IDs counting up from 16
            started = calendar.timegm((2018, 3, 1, 10, 0, 0)) + (plan.builds - index) * 86400
        build_id = 16 + plan.builds - 1 - index if old else snowflake(started * 1000, node)
        result = None if index in plan.running else plan.results.get(index) or pick_result(rng)
        builds.append(
            maker.build(
                job,
                build_id,
                started,
                result,
                bucket=PUBLIC_BUCKET if index < plan.public_newest else PRIVATE_BUCKET,
                crier=index in plan.crier,
                branch_commit=index in plan.branch_commit,
                gzip_files=plan.gzip.get(index, frozenset()),
                title=plan.titles.get(index),
            )
        )
    job.builds = builds[::-1]
    return job


# --- generated worlds for benchmarks -------------------------------------------------------


def generated_world(
    jobs: int,
    builds_per_job: int,
    presubmit_share: float = 0.25,
    running_per_job: int = 0,
    seed: int = 1,
    now: int = DEFAULT_NOW,
) -> World:
    """A big world with the default world's shapes, for benchmarks: builds about an hour
    apart, the newest shortly before `now` (pass time.time() for a history up to today)."""
    rng = random.Random(f"sandbox-generated-{seed}")
    n_presubmits = round(jobs * presubmit_share)
    repos = [f"gen-org-{i % 7}/repo-{i}" for i in range(max(1, (jobs + 1) // 2))]
    out = []
    with _gc_paused():
        for node in range(jobs):
            kind = "presubmit" if node < n_presubmits else ("periodic", "postsubmit")[node % 2]
            repo = repos[node % len(repos)]
            job = _generated_job(rng, node, kind, repo, builds_per_job, running_per_job, now)
            out.append(job)
    return World(jobs=out, repositories=_repositories(repos), seed=seed)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Creating ~10 dicts per build otherwise triggers full collections over an ever
    bigger heap: 100k builds take 2 s instead of 5 s without them (nothing here is cyclic)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _generated_job(
    rng: random.Random, node: int, kind: str, repo: str, n: int, running: int, now: int
) -> SandboxJob:
    prefix = {"presubmit": "pull-ci", "postsubmit": "branch-ci", "periodic": "periodic-ci"}[kind]
    name = f"{prefix}-{repo.replace('/', '-')}-master-e2e-{node}"
    job = SandboxJob(name=name, kind=kind, bucket=PRIVATE_BUCKET, repo=repo)
    maker = BuildMaker(rng, node)
    public_newest = n // 3 if node % 4 == 3 else 0
    at = now - rng.randint(60, 3600) - n * 3600
    builds = []
    for index in reversed(range(n)):  # oldest first
        at += rng.randint(1800, 5400)
        result = None if index < running else pick_result(rng)
        if result == "FAILURE" and rng.random() < 0.05:
            result = "ERROR"
        builds.append(
            maker.build(
                job,
                snowflake(at * 1000, node, node // 1024),
                at,
                result,
                bucket=PUBLIC_BUCKET if index < public_newest else PRIVATE_BUCKET,
                crier=result == "ERROR",
                gzip_files=frozenset({PROWJOB}) if rng.random() < 0.2 else frozenset(),
            )
        )
    job.builds = builds[::-1]
    return job
