"""Prow jobs and builds as the sandbox keeps them, with the bucket and file names, build IDs,
times and Go-style JSON they are stored and shown in. The bottom layer of the sandbox's data:
the build maker, the World and the services all build on these records.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

PUBLIC_BUCKET = "test-platform-results-public"
PRIVATE_BUCKET = "test-platform-results"
# Where the `moved` fault puts a job's newer builds: a bucket no crawler can guess from the
# job URL, as when OpenShift moved results in 2026 (deck's SpyglassLinks name it).
MOVED_BUCKET = "ci-results-2026"
PROW_HOST = "https://prow.ci.openshift.org"
RESULTS = ("SUCCESS", "FAILURE", "ABORTED", "ERROR")
STARTED = "started.json"
FINISHED = "finished.json"
PROWJOB = "prowjob.json"

# Prow's build IDs are Twitter-style snowflakes: (ms since this epoch) << 22 | node << 12 | seq.
_SNOWFLAKE_EPOCH_MS = 1288834974657


def snowflake(epoch_ms: int, node: int = 0, seq: int = 0) -> int:
    """A Prow-style build ID for a moment, so IDs sort like start times."""
    return ((epoch_ms - _SNOWFLAKE_EPOCH_MS) << 22) | ((node % 1024) << 12) | (seq % 4096)


def rfc3339(epoch: int) -> str:
    """Whole-second UTC timestamp as Go marshals a time.Time in UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def go_json(value: object, indent: str | None = None) -> str:
    """JSON as Go's encoding/json writes it: UTF-8, with <, >, & escaped as \\u00XX."""
    if indent is None:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(value, ensure_ascii=False, indent=indent)
    # These characters can only occur inside JSON strings, so plain replacement is safe.
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


@dataclass
class SandboxBuild:
    """One Prow build and the three JSON documents stored in its GCS folder."""

    job: str
    id: str
    bucket: str
    path: str
    started: int
    finished: int | None
    result: str | None
    repo: str
    refs: dict | None
    started_json: dict
    finished_json: dict | None
    prowjob_json: dict
    gzip_files: frozenset[str] = frozenset()
    # False: the folder has no prowjob.json (older builds, other Prow instances), so deck,
    # which fills Refs from it, shows none.
    has_prowjob: bool = True

    @property
    def running(self) -> bool:
        return self.finished_json is None

    @property
    def spyglass_path(self) -> str:
        """Deck's SpyglassLink for this build."""
        return f"/view/gs/{self.bucket}/{self.path}"


@dataclass
class SandboxJob:
    """A Prow job; builds are kept newest first (ID descending as integers)."""

    name: str
    kind: str
    bucket: str
    repo: str
    builds: list[SandboxBuild] = field(default_factory=list)

    @property
    def presubmit(self) -> bool:
        return self.kind == "presubmit"

    def history_root(self) -> str:
        """The job's folder as deck names it (`logs/JOB` or `pr-logs/directory/JOB`)."""
        if self.presubmit:
            return f"pr-logs/directory/{self.name}"
        return f"logs/{self.name}"

    def history_path(self) -> str:
        return f"/job-history/gs/{self.bucket}/{self.history_root()}"

    def buckets(self) -> set[str]:
        """Every bucket that holds builds of this job (deck merges their histories)."""
        return {self.bucket} | {b.bucket for b in self.builds}

    def build(self, build_id: str) -> SandboxBuild:
        for b in self.builds:
            if b.id == build_id:
                return b
        raise KeyError(f"job {self.name} has no build {build_id}")
