"""Jobs chosen by pattern: the rule of a match: item and how a feed build is held against it
(pure; the expansion each run: crawler.settings.patterns)."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Generic, Protocol, TypeVar

TYPES = ("periodic", "postsubmit", "presubmit", "batch")


# Their builds live under pr-logs/, so deck shows their history at pr-logs/directory/JOB.
PR_TYPES = frozenset({"presubmit", "batch"})


DEFAULT_PROW = "https://prow.ci.openshift.org"


S = TypeVar("S")


class Build(Protocol):
    """What matching needs of a feed build (crawler.prow.feed.FeedBuild has it); its repository
    is read by `repo_of`."""

    @property
    def job(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def bucket(self) -> str: ...


def repo_of(build: Build) -> str | None:
    """ORG/NAME of spec.refs, else of the first extra_refs: `org_repo`, or `org` + `repo`."""
    named = getattr(build, "org_repo", None)
    if named is not None:
        return str(named)
    org, repo = getattr(build, "org", None), getattr(build, "repo", None)
    return f"{org}/{repo}" if org and repo else None


@dataclass(frozen=True)
class MatchRule:
    """One `match:` (with its `exclude:`); every given part must hold for a job to match."""

    job: str | None = None
    type: str | None = None
    repo: str | None = None
    excludes: tuple[str, ...] = ()
    text: str = ""  # the match as written, for messages

    def describe(self) -> str:
        return f"match {self.text}"

    @property
    def key(self) -> str:
        """Names the rule in matches.json: the same rule however it is written."""
        parts = [f"{k}={v}" for k, v in (("job", self.job), ("type", self.type)) if v]
        if self.repo:
            parts.append(f"repo={self.repo}")
        if self.excludes:
            parts.append("exclude=" + ",".join(sorted(set(self.excludes))))
        return " ".join(parts)

    def admits(self, job: str) -> bool:
        """The parts that depend on the name alone: the glob and the excludes."""
        if self.job is not None and not fnmatchcase(job, self.job):
            return False
        return not any(fnmatchcase(job, glob) for glob in self.excludes)

    def matches(self, build: Build) -> bool:
        if self.type is not None and build.type != self.type:
            return False
        if self.repo is not None and repo_of(build) != self.repo:
            return False
        return self.admits(build.job)


@dataclass(frozen=True)
class MatchItem(Generic[S]):
    """A match item of the file, with the settings (opaque here) each of its jobs gets."""

    rule: MatchRule
    settings: S
