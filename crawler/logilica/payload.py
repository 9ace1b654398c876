"""Build artifacts -> Logilica build object (docs/formats.md#logilica-import-api). Pure: no I/O."""

from __future__ import annotations

import math
import re
from typing import Any

from crawler.core.builds import BuildRef, PullRef, pull_from_refs
from crawler.core.errors import BuildError
from crawler.core.jobs import REPO_NAME, JobSpec, TriggeredBy
from crawler.core.records import (
    Artifacts,
    Payload,
    dict_of,
    extra_ref_repo,
    refs_repo,
    repo_without_prowjob,
    started_pull,
    started_repo,
    text_of,
)
from crawler.logilica.stages import step_stages

CONCLUSIONS = {
    "SUCCESS": "Success",
    "FAILURE": "Failure",
    "ABORTED": "Cancelled",
    "ERROR": "Failure",
}
_SHA = re.compile(r"[0-9a-f]{7,64}")
# Epoch seconds we accept: after Prow existed, before 2100. Anything else is corrupt metadata.
_MIN_TS = 1_400_000_000
_MAX_TS = 4_102_444_800
# Clocks of the pod and of crier may disagree a little; more than this is not a real build.
_CLOCK_SKEW = 300


def resolve_repo(job: JobSpec, build: BuildRef, art: Artifacts) -> str:
    """Repository in the documented order; BuildError naming what was tried when none fits."""
    repo = (
        repo_without_prowjob(job, build, art.finished)
        or refs_repo(art.prowjob)
        or extra_ref_repo(art.prowjob)
        or started_repo(art.started)
    )
    if repo is None:
        raise BuildError(
            "no repository: set 'repo' for the job in jobs.yaml (none in finished.json "
            "metadata.repo, the page's Refs, prowjob.json spec.refs or spec.extra_refs, or "
            "started.json repos)"
        )
    if not REPO_NAME.fullmatch(repo):
        raise BuildError(f"repository {repo[:100]!r} is not ORG/NAME")
    return repo


def _pull(build: BuildRef, art: Artifacts) -> PullRef | None:
    """The page's Refs, else prowjob.json spec.refs, else started.json's pull and repos."""
    if build.pull is not None:
        return build.pull
    pull = pull_from_refs(dict_of(dict_of(dict_of(art.prowjob).get("spec")).get("refs")))
    if pull is None and (found := started_pull(art.started)) is not None:
        pull = found[1]
    return pull


def _timestamp(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BuildError(f"{what} has no numeric 'timestamp'")
    if isinstance(value, float) and not math.isfinite(value):
        # Python's json accepts NaN and Infinity; int() of them raises ValueError/OverflowError.
        raise BuildError(f"{what} timestamp {value} is not a plausible time")
    ts = int(value)
    if not _MIN_TS <= ts <= _MAX_TS:
        raise BuildError(f"{what} timestamp {ts} is not a plausible time")
    return ts


def conclusion(finished: dict[str, Any]) -> str:
    """Logilica conclusion from finished.json; crier writes the result in lower case."""
    result = finished.get("result")
    if isinstance(result, str) and result.strip():
        word = result.strip().upper()
        if word in CONCLUSIONS:
            return CONCLUSIONS[word]
        raise BuildError(f"finished.json result {result[:40]!r} is not one Logilica knows")
    passed = finished.get("passed")
    if isinstance(passed, bool):
        return "Success" if passed else "Failure"
    raise BuildError("finished.json has neither 'result' nor 'passed'")


def commit(started: dict[str, Any], finished: dict[str, Any], pull: PullRef | None) -> str:
    """repo-commit, else the PR head, else revision; a real SHA wins over a branch name.

    started.json's repo-commit can be a branch ("master"), so a SHA later in the documented
    order is preferred to it; with no SHA anywhere the first value given is used.
    """
    candidates = [
        text_of(started.get("repo-commit")),
        pull.sha if pull is not None and pull.sha else None,
        text_of(finished.get("revision")),
    ]
    given = [c for c in candidates if c]
    for value in given:
        if _SHA.fullmatch(value):
            return value
    if given:
        return given[0]
    raise BuildError("no commit: started.json repo-commit, the PR head and revision are all empty")


def to_payload(
    job: JobSpec,
    build: BuildRef,
    art: Artifacts,
    *,
    deck_base: str,
    triggered_by: TriggeredBy,
    origin: str,
) -> Payload:
    """The Logilica build object for a finished build; BuildError if the metadata is unusable."""
    repo = resolve_repo(job, build, art)
    started_at = _timestamp(art.started.get("timestamp"), "started.json")
    completed_at = _timestamp(art.finished.get("timestamp"), "finished.json")
    if completed_at < started_at - _CLOCK_SKEW:
        raise BuildError(
            f"finished.json timestamp {completed_at} is before started.json {started_at}"
        )
    completed_at = max(completed_at, started_at)
    result = conclusion(art.finished)
    pull = _pull(build, art) if job.url.presubmit or build.pull else None
    url = f"{deck_base}{build.spyglass_path}"
    repo_url = f"https://github.com/{repo}"
    if pull is not None and pull.author:
        trigger = {
            "name": pull.author,
            "email": "",
            "accountId": pull.author,
            "lastActivity": started_at,
        }
    else:
        trigger = {
            "name": triggered_by.name,
            "email": triggered_by.email,
            "accountId": triggered_by.account_id,
            "lastActivity": started_at,
        }
    pr_urls: list[str] = []
    if pull is not None:
        link = pull.link if pull.link.startswith("https://") else f"{repo_url}/pull/{pull.number}"
        pr_urls.append(link)
    name = job.name
    step = {
        "name": name,
        "startedAt": started_at,
        "completedAt": completed_at,
        "status": "Completed",
        "conclusion": result,
    }
    return Payload(
        repo=repo,
        body={
            "origin": origin,
            "originalID": build.id,
            "name": name,
            "url": url,
            "startedAt": started_at,
            "createdAt": started_at,
            "completedAt": completed_at,
            "triggeredBy": trigger,
            "status": "Completed",
            "conclusion": result,
            "repoUrl": repo_url,
            "commit": commit(art.started, art.finished, pull),
            "pullRequestUrls": pr_urls,
            "isDeployment": False,
            # ci-operator's steps when its graph gives any; else the build as one stage.
            "stages": step_stages(art.step_graph, build_id=build.id, url=url)
            or [{**step, "id": build.id, "url": url, "jobs": [dict(step)]}],
        },
    )
