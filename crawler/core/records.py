"""A finished build's files (Artifacts) and what is sent for it (Payload), with the rules both
the reader and the mapping use: which repository a build belongs to and whether prowjob.json is
needed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crawler.core.builds import BuildRef, PullRef
from crawler.core.jobs import JobSpec


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


def dict_of(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def text_of(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def refs_repo(prowjob: dict[str, Any] | None) -> str | None:
    """prowjob.json spec.refs: what deck shows as a build's Refs (needed when the build was
    found by listing the bucket rather than on a deck page)."""
    refs = dict_of(dict_of(dict_of(prowjob).get("spec")).get("refs"))
    org, repo = text_of(refs.get("org")), text_of(refs.get("repo"))
    return f"{org}/{repo}" if org and repo else None


def extra_ref_repo(prowjob: dict[str, Any] | None) -> str | None:
    spec = dict_of(dict_of(prowjob).get("spec"))
    extra = spec.get("extra_refs")
    if isinstance(extra, list) and extra and isinstance(extra[0], dict):
        org, repo = text_of(extra[0].get("org")), text_of(extra[0].get("repo"))
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
    for repo, refs in dict_of(started.get("repos")).items():
        if not isinstance(repo, str) or not isinstance(refs, str):
            continue
        for part in refs.split(",")[1:]:
            pr, _, sha = part.partition(":")
            if pr.strip() == str(number):
                return repo, PullRef(number=number, author="", sha=sha.strip(), link="")
    return None, PullRef(number=number, author="", sha="", link="")


def started_repo(started: dict[str, Any]) -> str | None:
    """The repository started.json names: the pull's, else its only entry in `repos`."""
    found = started_pull(started)
    if found is not None and found[0]:
        return found[0]
    repos = [r for r in dict_of(started.get("repos")) if isinstance(r, str)]
    return repos[0] if len(repos) == 1 else None


def repo_without_prowjob(job: JobSpec, build: BuildRef, finished: dict[str, Any]) -> str | None:
    """Repository from the sources that cost no extra download: job, finished.json, page."""
    if job.repo:
        return job.repo
    repo = text_of(dict_of(finished.get("metadata")).get("repo"))
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
