"""One item of deck's ProwJob feed -> a FeedBuild, or the reason it is skipped. Pure.

Split from crawler/prow/feed.py (the stream parser) so the checks can be read on their own: every
field a request or a record is later built from is checked here, and an item failing any check
is skipped whole (docs/formats.md#decks-prowjob-feed).
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from typing import Any

from crawler.core.builds import BuildRef, PullRef, pull_from_refs, validate_job_name
from crawler.core.times import epoch_seconds

TYPES = frozenset({"periodic", "postsubmit", "presubmit", "batch"})
FINISHED_STATES = frozenset({"success", "failure", "aborted", "error"})
UNFINISHED_STATES = frozenset({"scheduling", "triggered", "pending"})
# Job names become tracker file names (JOB.failures.json and the like): keep them well within
# the 255 bytes a file name may have.
MAX_JOB_NAME = 200
_MAX_BUILD_ID = 2**64 - 1  # deck and GCS paths treat build IDs as uint64
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,221}")
_PATH = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)+")
_DOTS = frozenset({".", ".."})
_URL = re.compile(r"https?://[^/?#\s]+/view/gs/([^?#]*)")


@dataclass(frozen=True, slots=True)
class FeedBuild:
    """One build of the feed with only the fields the crawler uses; small, as a feed holds
    tens of thousands. `started`/`completed` are epoch seconds; `completed` is None while the
    build runs (Prow sets completionTime when it finishes)."""

    job: str
    type: str
    state: str
    build_id: str
    started: float
    completed: float | None
    bucket: str
    path: str
    org: str | None = None
    repo: str | None = None
    base_ref: str | None = None
    base_sha: str | None = None
    pull: PullRef | None = None

    @property
    def finished(self) -> bool:
        return self.completed is not None

    @property
    def key(self) -> int:
        return int(self.build_id)

    def build_ref(self) -> BuildRef:
        """The same build as a job-history page would list it (Result upper-cased)."""
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started))
        return BuildRef(
            id=self.build_id,
            bucket=self.bucket,
            path=self.path,
            result=self.state.upper() if self.finished else "PENDING",
            started=started,
            org=self.org,
            repo=self.repo,
            pull=self.pull,
        )


class NoBuildYet:
    """An item with no build ID: scheduled or triggered, no pod (so no folder) yet."""


NO_BUILD_YET = NoBuildYet()


def item_to_build(item: Any) -> FeedBuild | NoBuildYet | str:
    """The item's build; NO_BUILD_YET when it has no build ID; else the reason to skip it."""
    if not isinstance(item, dict):
        return "not an object"
    spec, status = item.get("spec"), item.get("status")
    if not isinstance(spec, dict) or "job" not in spec:
        return "no spec.job"
    if not isinstance(status, dict):
        return "no status"
    job = spec["job"]
    if not _job_name_ok(job):
        return "bad job name"
    kind = spec.get("type")
    if kind not in TYPES:
        return "bad spec.type"
    state = status.get("state")
    if state not in FINISHED_STATES and state not in UNFINISHED_STATES:
        return "bad status.state"
    started = epoch_seconds(status.get("startTime"))
    if started is None:
        return "bad status.startTime"
    completed: int | None = None
    if status.get("completionTime") is not None:
        completed = epoch_seconds(status["completionTime"])
        if completed is None:
            return "bad status.completionTime"
    if (completed is not None) != (state in FINISHED_STATES):
        return "state contradicts completionTime"
    build_id = status.get("build_id")
    if build_id is None or build_id == "":
        return NO_BUILD_YET  # Prow fills it when the pod is made
    if not _build_id_ok(build_id):
        return "bad status.build_id"
    place = _bucket_and_path(status.get("url"), job, build_id)
    if place is None:
        return "bad status.url"
    org, repo, base_ref, base_sha, pull = _refs(spec)
    # Interned: tens of thousands of builds share a few hundred names.
    return FeedBuild(
        job=sys.intern(job),
        type=sys.intern(kind),
        state=sys.intern(state),
        build_id=build_id,
        started=float(started),
        completed=None if completed is None else float(completed),
        bucket=sys.intern(place[0]),
        path=place[1],
        org=org,
        repo=repo,
        base_ref=base_ref,
        base_sha=base_sha,
        pull=pull,
    )


def _job_name_ok(job: object) -> bool:
    if not isinstance(job, str) or len(job) > MAX_JOB_NAME:
        return False
    try:
        validate_job_name(job)
    except ValueError:
        return False
    return True


def _build_id_ok(build_id: object) -> bool:
    """Canonical decimal text: "0123" would be another originalID than "123"."""
    return (
        isinstance(build_id, str)
        and build_id.isascii()
        and build_id.isdigit()
        and (build_id == "0" or not build_id.startswith("0"))
        and int(build_id) <= _MAX_BUILD_ID
    )


def _bucket_and_path(url: object, job: str, build_id: str) -> tuple[str, str] | None:
    """Bucket and folder from `https://HOST/view/gs/BUCKET/PATH`, if PATH ends in JOB/ID.

    Prow writes every build to `.../JOB/ID` whatever its path strategy; anything else would
    make us read another job's or another build's folder.
    """
    if not isinstance(url, str):
        return None
    match = _URL.fullmatch(url)
    if match is None:
        return None
    bucket, _, path = match.group(1).partition("/")
    if not _BUCKET.fullmatch(bucket) or not _PATH.fullmatch(path):
        return None
    segments = path.split("/")
    if len(segments) < 3 or segments[-2:] != [job, build_id] or not _DOTS.isdisjoint(segments):
        return None
    return bucket, path


def _refs(spec: dict) -> tuple[str | None, str | None, str | None, str | None, PullRef | None]:
    """org, repo, base_ref, base_sha and first pull; periodics name their repo in extra_refs."""
    refs = spec.get("refs")
    if not isinstance(refs, dict):
        extra = spec.get("extra_refs")
        first = extra[0] if isinstance(extra, list) and extra else None
        refs = first if isinstance(first, dict) else {}

    def text(key: str) -> str | None:
        value = refs.get(key)
        return value if isinstance(value, str) and value else None

    org, repo, base_ref = text("org"), text("repo"), text("base_ref")
    if org is None or repo is None:
        org = repo = None
    else:
        org, repo = sys.intern(org), sys.intern(repo)
    base_ref = None if base_ref is None else sys.intern(base_ref)
    return org, repo, base_ref, text("base_sha"), pull_from_refs(refs)
