"""Every table a person reads keeps each name whole on one line at 80 columns and more (issue
19): the demo's "What the fake Logilica received" and the per-job summary, fed the longest job
name, repository and build ID of the sandbox's default world."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
from rich.console import Console

from crawler.cli import demo
from crawler.core.counts import JobCounts, RunSummary
from crawler.logilica.payload import conclusion
from crawler.output.terminal import print_table
from crawler.sandbox import Sandbox
from crawler.sandbox.records import SandboxBuild, SandboxJob

_CONCLUSIONS = ("Success", "Failure", "Cancelled")  # Logilica's, counted by the demo


def render(width: int, draw: Callable[[Console], None]) -> list[str]:
    """What a terminal `width` wide shows, as the demo's console prints it (soft_wrap: rich
    leaves long lines to the terminal, which breaks them at `width`)."""
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None, soft_wrap=True)
    draw(console)
    return out.getvalue().splitlines()


def assert_whole(lines: list[str], names: list[str], width: int) -> None:
    """Each name on one line, and no line wider than the terminal (it would break there)."""
    for name in names:
        assert any(name in line for line in lines), f"{name!r} broken:\n" + "\n".join(lines)
    for line in lines:
        assert len(line) <= width, line


def _longest_job(sandbox: Sandbox) -> SandboxJob:
    return max(sandbox.world.jobs, key=lambda j: (len(j.name), j.name))


def _example_build(job: SandboxJob) -> SandboxBuild:
    """The job's failed build with the longest ID: the one the demo shows stage by stage."""
    failed = [b for b in job.builds if not b.running and conclusion(b.finished_json) == "Failure"]
    return max(failed, key=lambda b: (len(b.id), b.id))


def _received(job: SandboxJob, build: SandboxBuild, example: SandboxBuild) -> dict:
    """The fields of a Logilica build the demo's table reads; only `example` has step stages."""
    stage = {"startedAt": build.started, "completedAt": build.finished, "jobs": []}
    step = {**stage, "id": f"{build.id}:e2e", "name": "e2e", "conclusion": "Failure"}
    stages = [{**stage, "id": build.id, "name": "build", "conclusion": "Success"}]
    if build is example:
        stages = [{**step, "jobs": [{**step, "name": "e2e-test"}, {**step, "name": "gather"}]}]
    return {
        "originalID": build.id,
        "name": job.name,
        "conclusion": conclusion(build.finished_json),
        "pullRequestUrls": [f"https://github.com/{job.repo}/pull/1"] if job.presubmit else [],
        "stages": stages,
    }


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    """A sandbox that was never started, its recorder holding one upload of each finished
    build (the longest job's first, so that its failed build is the demo's example)."""
    sb = Sandbox()
    longest = _longest_job(sb)
    example = _example_build(longest)
    for job in sorted(sb.world.jobs, key=lambda j: j is not longest):
        builds = [_received(job, b, example) for b in job.builds if not b.running]
        sb.recorder.record(sb.world.repository_id(job.repo), builds)
    return sb


@pytest.mark.parametrize("width", [80, 100])
def test_demo_received_table_keeps_repositories_job_and_build_id_whole(
    sandbox: Sandbox, width: int
) -> None:
    lines = render(width, lambda console: demo._show_received(console, sandbox))
    job = _longest_job(sandbox)
    repos = sorted({j.repo for j in sandbox.world.jobs}, key=len, reverse=True)  # longest first
    assert_whole(lines, [*repos, job.name, _example_build(job).id], width)


@pytest.mark.parametrize("width", [80, 100])
def test_demo_received_table_counts_stay_on_their_repository_line(
    sandbox: Sandbox, width: int
) -> None:
    """Same counts as ever: builds, by conclusion, with a PR, with step stages."""
    lines = render(width, lambda console: demo._show_received(console, sandbox))
    repo = max((j.repo for j in sandbox.world.jobs), key=len)
    mine = [b for r, b in sandbox.recorder.received() if r == sandbox.world.repository_id(repo)]
    want = [len(mine), *(sum(b["conclusion"] == c for b in mine) for c in _CONCLUSIONS)]
    want += [sum(bool(b["pullRequestUrls"]) for b in mine)]
    want += [sum(":" in b["stages"][0]["id"] for b in mine)]
    row = next(line for line in lines if repo in line)
    assert [int(w) for w in re.findall(r"\b\d+\b", row.replace(repo, ""))] == want


@pytest.mark.parametrize("width", [50, 60])
def test_demo_received_table_below_80_columns_folds_only_what_cannot_fit(
    sandbox: Sandbox, width: int
) -> None:
    """The repositories (33 characters) and their counts still fit, a name above its counts;
    the job's name (61) folds rather than run past the edge."""
    lines = render(width, lambda console: demo._show_received(console, sandbox))
    stages = next(i for i, line in enumerate(lines) if line.startswith("stages of build"))
    assert_whole(lines[:stages], sorted({j.repo for j in sandbox.world.jobs}), width)
    job = _longest_job(sandbox).name
    assert all(len(line) <= width for line in lines[stages : stages + 3])
    assert job + ":" in "".join(lines[stages + 1 : stages + 3])


@pytest.mark.parametrize("width", [80, 100])
def test_summary_table_keeps_every_job_name_whole(sandbox: Sandbox, width: int) -> None:
    jobs = [JobCounts(name=j.name, found=12345, new=200, uploaded=199) for j in sandbox.world.jobs]
    summary = RunSummary(jobs=jobs, dry_run=False, seconds=1.0)
    lines = render(width, lambda console: print_table(summary, "uploaded", console))
    assert_whole(lines, [_longest_job(sandbox).name, *(j.name for j in jobs)], width)
