"""Build artifacts -> Logilica build object (docs/formats.md#logilica-import-api). Pure: no I/O."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from crawler.config import REPO_NAME, JobSpec, TriggeredBy
from crawler.errors import BuildError
from crawler.prow import BuildRef, PullRef, pull_from_refs
from crawler.stages import step_stages

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


@dataclass(frozen=True, slots=True)
class Artifacts:
    """What GCS holds for one finished build (prowjob only when it was needed)."""

    started: dict[str, Any]
    finished: dict[str, Any]
    prowjob: dict[str, Any] | None = None
    # ci-operator's step graph, only the fields the mapping reads (see stages.StepGraphReader);
    # None: not asked for, absent or unreadable.
    step_graph: Any = None


@dataclass(frozen=True, slots=True)
class Payload:
    """What is sent to Logilica for one build: the build object, and the repository whose
    endpoint it is posted to."""

    repo: str
    body: dict[str, Any]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _refs_repo(prowjob: dict[str, Any] | None) -> str | None:
    """prowjob.json spec.refs: what deck shows as a build's Refs (needed when the build was
    found by listing the bucket rather than on a deck page)."""
    refs = _dict(_dict(_dict(prowjob).get("spec")).get("refs"))
    org, repo = _text(refs.get("org")), _text(refs.get("repo"))
    return f"{org}/{repo}" if org and repo else None


def _extra_ref_repo(prowjob: dict[str, Any] | None) -> str | None:
    spec = _dict(_dict(prowjob).get("spec"))
    extra = spec.get("extra_refs")
    if isinstance(extra, list) and extra and isinstance(extra[0], dict):
        org, repo = _text(extra[0].get("org")), _text(extra[0].get("repo"))
        if org and repo:
            return f"{org}/{repo}"
    return None


def started_pull(started: dict[str, Any]) -> tuple[str | None, PullRef] | None:
    """A presubmit's pull from started.json, for builds whose page and prowjob.json give
    none: `pull` is the number, `repos` maps "org/repo" to "base_ref:base_sha,PR:sha,...".
    Returns the repository whose refs carry that pull (None if none does) and the pull."""
    raw = started.get("pull")
    text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not isinstance(text, str) or not text.isascii() or not text.strip().isdigit():
        return None
    number = int(text)
    if number <= 0:
        return None
    for repo, refs in _dict(started.get("repos")).items():
        if not isinstance(repo, str) or not isinstance(refs, str):
            continue
        for part in refs.split(",")[1:]:
            pr, _, sha = part.partition(":")
            if pr.strip() == str(number):
                return repo, PullRef(number=number, author="", sha=sha.strip(), link="")
    return None, PullRef(number=number, author="", sha="", link="")


def _started_repo(started: dict[str, Any]) -> str | None:
    """The repository started.json names: the pull's, else its only entry in `repos`."""
    found = started_pull(started)
    if found is not None and found[0]:
        return found[0]
    repos = [r for r in _dict(started.get("repos")) if isinstance(r, str)]
    return repos[0] if len(repos) == 1 else None


def repo_without_prowjob(job: JobSpec, build: BuildRef, finished: dict[str, Any]) -> str | None:
    """Repository from the sources that cost no extra download: job, finished.json, page."""
    if job.repo:
        return job.repo
    repo = _text(_dict(finished.get("metadata")).get("repo"))
    if repo:
        return repo
    if build.org and build.repo:
        return f"{build.org}/{build.repo}"
    return None


def needs_prowjob(job: JobSpec, build: BuildRef, finished: dict[str, Any]) -> bool:
    """prowjob.json is fetched only when the cheaper sources leave a gap."""
    return repo_without_prowjob(job, build, finished) is None or (
        job.url.presubmit and build.pull is None
    )


def resolve_repo(job: JobSpec, build: BuildRef, art: Artifacts) -> str:
    """Repository in the documented order; BuildError naming what was tried when none fits."""
    repo = (
        repo_without_prowjob(job, build, art.finished)
        or _refs_repo(art.prowjob)
        or _extra_ref_repo(art.prowjob)
        or _started_repo(art.started)
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
    pull = pull_from_refs(_dict(_dict(_dict(art.prowjob).get("spec")).get("refs")))
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
        _text(started.get("repo-commit")),
        pull.sha if pull is not None and pull.sha else None,
        _text(finished.get("revision")),
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
