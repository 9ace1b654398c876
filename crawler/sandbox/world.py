"""The sandbox's data: Prow jobs and builds, as deck, GCS and Logilica would know them.

Pure and deterministic (every random choice comes from a seeded ``random.Random``) so that
tests and benchmarks see the same world on every run. The services in this package only
*serve* a World; they never invent data of their own.
"""

from __future__ import annotations

import calendar
import gc
import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
# The sandbox's present: today at 00:00 UTC. Its running builds must be recent, as real ones
# are (a build deck shows running for over 48 hours counts as abandoned), and a world must
# stay the same all day long.
_DEFAULT_NOW = int(time.time()) // 86400 * 86400
_STATE_OF = {"SUCCESS": "success", "FAILURE": "failure", "ABORTED": "aborted", "ERROR": "error"}
_DESCRIPTION_OF = {
    "SUCCESS": "Job succeeded.",
    "FAILURE": "Job failed.",
    "ABORTED": "Job aborted.",
    "ERROR": "Job failed to start: pod could not be scheduled.",
    None: "Job triggered.",
}
_AUTHORS = ("jdoe", "asmith", "kwilliams", "mtanaka", "ppatel", "lgarcia", "openshift-bot")
_TITLES = (
    "OCPBUGS-1042: fix flaky e2e wait for rollout",
    "Bump k8s.io dependencies to v0.34",
    "NO-JIRA: update owners",
    "CNV-2210: add support for multi-arch images",
    "Refactor operator status reporting",
    "OCPBUGS-7781: handle nil pointer in reconcile loop",
)
# The title that tests HTML/JSON escaping: markup, an ampersand, quotes and non-ASCII text.
ESCAPE_TITLE = 'OCPBUGS-4242: Escape <b>&"quotes"</b> in topology view — naïve ✓'


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


@dataclass
class World:
    """Everything the fake services serve. Mutate only through its methods."""

    jobs: list[SandboxJob]
    repositories: list[dict]
    seed: int = 1
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"world-{self.seed}")

    def job(self, name: str) -> SandboxJob:
        for j in self.jobs:
            if j.name == name:
                return j
        raise KeyError(f"no job named {name!r}")

    def builds(self) -> list[SandboxBuild]:
        return [b for j in self.jobs for b in j.builds]

    def finished_builds(self) -> list[SandboxBuild]:
        return [b for b in self.builds() if not b.running]

    def running_builds(self) -> list[SandboxBuild]:
        return [b for b in self.builds() if b.running]

    def repository_id(self, full_name: str) -> str:
        for r in self.repositories:
            if r["name"] == full_name:
                return r["id"]
        raise KeyError(f"repository {full_name!r} unknown to Logilica")

    def finish_build(
        self, job: str, build_id: str, result: str = "SUCCESS", at: int | None = None
    ) -> SandboxBuild:
        """Turn a running build into a finished one, as the sidecar would at the end."""
        build = self.job(job).build(build_id)
        if not build.running:
            raise ValueError(f"build {job}/{build_id} has already finished")
        if at is None:
            at = build.started + _duration(self._rng, result)
        if at < build.started:
            raise ValueError("a build cannot finish before it started")
        _finish(build, result, at, crier=False, rng=self._rng)
        return build

    def move_newer_builds(self, job: str, bucket: str = MOVED_BUCKET) -> list[SandboxBuild]:
        """Put the newer half of a job's builds in `bucket` (call before the sandbox starts):
        the job URL still names the old bucket, deck's SpyglassLinks name the new one."""
        j = self.job(job)
        moved = j.builds[: max(1, len(j.builds) // 2)]
        for build in moved:
            old = f"/view/gs/{build.bucket}/"
            build.bucket = bucket
            status = {**build.prowjob_json["status"]}
            status["url"] = status["url"].replace(old, f"/view/gs/{bucket}/")
            build.prowjob_json = {**build.prowjob_json, "status": status}
        return moved

    def drop_prowjobs(self, job: str) -> None:
        """The job's builds lose prowjob.json (call before the sandbox starts)."""
        for build in self.job(job).builds:
            build.has_prowjob = False

    def add_builds(self, job: str, n: int, *, running: bool = False) -> list[SandboxBuild]:
        """Append n builds newer than every existing one (finished unless running=True)."""
        j = self.job(job)
        maker = _BuildMaker(self._rng, node=self.jobs.index(j))
        newest = j.builds[0] if j.builds else None
        at = (newest.started if newest else _DEFAULT_NOW - 86400) + 600
        base_id = int(newest.id) if newest else 0
        bucket = newest.bucket if newest else j.bucket
        added = []
        for _ in range(n):
            at += self._rng.randint(600, 3600)
            build_id = max(snowflake(at * 1000, maker.node), base_id + 1)
            base_id = build_id
            result = None if running else _pick_result(self._rng)
            added.append(maker.build(j, build_id, at, result, bucket=bucket))
        j.builds[:0] = reversed(added)
        return added


@dataclass
class _Pull:
    number: int
    author: str
    sha: str
    title: str


class _BuildMaker:
    """Makes realistic builds of one job; shared by the world generators."""

    def __init__(self, rng: random.Random, node: int) -> None:
        self.rng = rng
        self.node = node
        self.pulls: list[_Pull] = []
        self.base_sha = _sha(rng)
        self._shared: dict[str, dict] = {}

    def build(
        self,
        job: SandboxJob,
        build_id: int,
        started: int,
        result: str | None,
        *,
        bucket: str,
        crier: bool = False,
        branch_commit: bool = False,
        gzip_files: frozenset[str] = frozenset(),
        title: str | None = None,
    ) -> SandboxBuild:
        """A build started at `started`; finished with `result` unless that is None."""
        bid = str(build_id)
        pull = self._pull(title) if job.presubmit else None
        refs, extra_refs = self._refs(job, pull)
        path = _build_path(job, pull, bid)
        started_json = _started_json(job.repo, refs, extra_refs, pull, started, branch_commit)
        if crier:
            started_json["metadata"] = {"uploader": "crier"}
        build = SandboxBuild(
            job=job.name,
            id=bid,
            bucket=bucket,
            path=path,
            started=started,
            finished=None,
            result=None,
            repo=job.repo,
            refs=refs,
            started_json=started_json,
            finished_json=None,
            prowjob_json=self._prowjob(job, bid, bucket, path, started, refs, extra_refs),
            gzip_files=gzip_files,
        )
        if result is not None:
            _finish(build, result, started + _duration(self.rng, result), crier, self.rng)
        return build

    def _pull(self, title: str | None) -> _Pull:
        """The PR a presubmit build tests: often a retest of a recent PR, sometimes a new one."""
        rng = self.rng
        if title is not None or not self.pulls or rng.random() < 0.3:
            last = self.pulls[-1].number if self.pulls else rng.randint(1000, 9000)
            pull = _Pull(
                number=last + rng.randint(1, 40),
                author=rng.choice(_AUTHORS),
                sha=_sha(rng),
                title=title or rng.choice(_TITLES),
            )
            self.pulls.append(pull)
            return pull
        pull = rng.choice(self.pulls[-4:])
        if rng.random() < 0.25:  # the author pushed again since the last run
            pull.sha = _sha(rng)
        return _Pull(pull.number, pull.author, pull.sha, pull.title)

    def _refs(self, job: SandboxJob, pull: _Pull | None) -> tuple[dict | None, list | None]:
        org, name = job.repo.split("/", 1)
        link = f"https://github.com/{job.repo}"
        if job.kind == "periodic":
            return None, [{"org": org, "repo": name, "repo_link": link, "base_ref": "master"}]
        if job.kind == "postsubmit":
            self.base_sha = _sha(self.rng)
        refs: dict = {
            "org": org,
            "repo": name,
            "repo_link": link,
            "base_ref": "master",
            "base_sha": self.base_sha,
            "base_link": f"{link}/commit/{self.base_sha}",
        }
        if pull is not None:
            refs["pulls"] = [
                {
                    "number": pull.number,
                    "author": pull.author,
                    "sha": pull.sha,
                    "title": pull.title,
                    "link": f"{link}/pull/{pull.number}",
                    "commit_link": f"{link}/pull/{pull.number}/commits/{pull.sha}",
                    "author_link": f"https://github.com/{pull.author}",
                }
            ]
        return refs, None

    def _prowjob(
        self,
        job: SandboxJob,
        bid: str,
        bucket: str,
        path: str,
        started: int,
        refs: dict | None,
        extra_refs: list | None,
    ) -> dict:
        context = "ci/prow/" + job.name.rsplit("-", 1)[-1]
        labels = {
            "created-by-prow": "true",
            "prow.k8s.io/build-id": bid,
            "prow.k8s.io/context": context.replace("/", "-")[:63],
            "prow.k8s.io/job": job.name[:63],  # label values are capped at 63 characters
            "prow.k8s.io/type": job.kind,
        }
        spec: dict = {
            "type": job.kind,
            "agent": "kubernetes",
            "cluster": f"build{self.node % 11 + 1:02d}",
            "namespace": "ci",
            "job": job.name,
        }
        if refs is not None:
            spec["refs"] = refs
            labels["prow.k8s.io/refs.org"] = refs["org"]
            labels["prow.k8s.io/refs.repo"] = refs["repo"]
            labels["prow.k8s.io/refs.base_ref"] = refs["base_ref"]
            if refs.get("pulls"):
                labels["prow.k8s.io/refs.pull"] = str(refs["pulls"][0]["number"])
        if extra_refs is not None:
            spec["extra_refs"] = extra_refs
        spec["report"] = True
        if job.presubmit:
            spec["context"] = context
            spec["rerun_command"] = "/test " + context.rsplit("/", 1)[-1]
        spec.update(self._shared_spec(bucket))
        return {
            "kind": "ProwJob",
            "apiVersion": "prow.k8s.io/v1",
            "metadata": {
                "name": _uuid(self.rng),
                "namespace": "ci",
                "creationTimestamp": rfc3339(started - 3),
                "labels": labels,
                "annotations": {"prow.k8s.io/context": context, "prow.k8s.io/job": job.name},
            },
            "spec": spec,
            "status": {
                "startTime": rfc3339(started - 3),
                "pendingTime": rfc3339(started),
                "state": "pending",
                "description": _DESCRIPTION_OF[None],
                "url": f"{PROW_HOST}/view/gs/{bucket}/{path}",
                "pod_name": _uuid(self.rng),
                "build_id": bid,
            },
        }

    def _shared_spec(self, bucket: str) -> dict:
        """Pod spec and decoration config: identical for all builds of a job, so shared
        (read-only) between them to keep big generated worlds small in memory."""
        if bucket not in self._shared:
            self._shared[bucket] = {
                "pod_spec": {
                    "containers": [
                        {
                            "name": "",
                            "image": "ci-operator:latest",
                            "command": ["ci-operator"],
                            "args": [
                                "--gcs-upload-secret=/secrets/gcs/service-account.json",
                                "--report-credentials-file=/etc/report/credentials",
                                "--target=e2e",
                            ],
                            "resources": {"requests": {"cpu": "10m"}},
                        }
                    ],
                    "serviceAccountName": "ci-operator",
                },
                "decoration_config": {
                    "timeout": "4h0m0s",
                    "grace_period": "1h0m0s",
                    "gcs_configuration": {
                        "bucket": bucket,
                        "path_strategy": "single",
                        "default_org": "openshift",
                        "default_repo": "origin",
                        "mediaTypes": {"log": "text/plain"},
                    },
                    "gcs_credentials_secret": "gce-sa-credentials-gcs-publisher",
                    "skip_cloning": True,
                },
                "prowjob_defaults": {"tenant_id": "GlobalDefaultID"},
            }
        return self._shared[bucket]


def _finish(build: SandboxBuild, result: str, at: int, crier: bool, rng: random.Random) -> None:
    """Write finished.json and the final ProwJob status; crier writes a terser, lower-case
    finished.json (it reports pods that never ran the sidecar)."""
    if result not in RESULTS:
        raise ValueError(f"result must be one of {RESULTS}, not {result!r}")
    passed = result == "SUCCESS"
    sha = _commit_of(build) or _sha(rng)
    if crier:
        finished: dict = {
            "timestamp": at,
            "passed": passed,
            "result": result.lower(),
            "revision": sha,
            "metadata": {"uploader": "crier"},
        }
    else:
        finished = {
            "timestamp": at,
            "passed": passed,
            "result": result,
            "revision": sha,
            "metadata": {
                "repo": build.repo,
                "repos": build.started_json.get("repos", {build.repo: f"master:{sha}"}),
                "repo-commit": sha,
                "pod": build.prowjob_json["status"].get("pod_name", ""),
                "work-namespace": f"ci-op-{rng.getrandbits(32):08x}",
                "revision": str(rng.randint(1, 4)),  # a counter, not a commit
            },
        }
    status = dict(build.prowjob_json["status"])
    status.update(
        completionTime=rfc3339(at),
        state=_STATE_OF[result],
        description=_DESCRIPTION_OF[result],
        prev_report_states={"gcsk8sreporter": _STATE_OF[result], "gcsreporter": _STATE_OF[result]},
    )
    build.prowjob_json = {**build.prowjob_json, "status": status}
    build.finished_json = finished
    build.finished = at
    build.result = result


def _commit_of(build: SandboxBuild) -> str | None:
    """The SHA the build tested, when its refs name one (periodics only name a branch)."""
    refs = build.refs
    if refs is None:
        return None
    if refs.get("pulls"):
        return refs["pulls"][0]["sha"]
    return refs.get("base_sha")


def _started_json(
    repo: str,
    refs: dict | None,
    extra_refs: list | None,
    pull: _Pull | None,
    started: int,
    branch_commit: bool,
) -> dict:
    """started.json as pod-utils' initupload writes it."""
    data: dict = {"timestamp": started}
    if refs is not None:
        ref = f"{refs['base_ref']}:{refs['base_sha']}"
        commit = refs["base_sha"]
        if pull is not None:
            data["pull"] = str(pull.number)
            ref += f",{pull.number}:{pull.sha}"
            commit = pull.sha
        data["repos"] = {repo: ref}
    else:
        assert extra_refs is not None
        data["repos"] = {repo: extra_refs[0]["base_ref"]}
        commit = extra_refs[0]["base_ref"]  # no base_sha: initupload falls back to the branch
    if branch_commit:
        commit = "master"
    data["repo-version"] = commit
    data["repo-commit"] = commit
    return data


def _build_path(job: SandboxJob, pull: _Pull | None, bid: str) -> str:
    if pull is None:
        return f"logs/{job.name}/{bid}"
    # Prow's default org/repo (openshift/origin) gets no ORG_REPO folder.
    org_repo = "" if job.repo == "openshift/origin" else job.repo.replace("/", "_") + "/"
    return f"pr-logs/pull/{org_repo}{pull.number}/{job.name}/{bid}"


def _duration(rng: random.Random, result: str) -> int:
    low, high = {
        "SUCCESS": (40 * 60, 3 * 3600),
        "FAILURE": (10 * 60, 3 * 3600),
        "ABORTED": (60, 3600),
        "ERROR": (30, 300),
    }[result]
    return rng.randint(low, high)


def _pick_result(rng: random.Random) -> str:
    roll = rng.random()  # not rng.choices(weights=...): that is 10x slower at 100k builds
    return "SUCCESS" if roll < 0.65 else "FAILURE" if roll < 0.92 else "ABORTED"


def _sha(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


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
    maker = _BuildMaker(rng, node)
    at = _DEFAULT_NOW - rng.randint(600, 2400)
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
        result = None if index in plan.running else plan.results.get(index) or _pick_result(rng)
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
    now: int = _DEFAULT_NOW,
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
    maker = _BuildMaker(rng, node)
    public_newest = n // 3 if node % 4 == 3 else 0
    at = now - rng.randint(60, 3600) - n * 3600
    builds = []
    for index in reversed(range(n)):  # oldest first
        at += rng.randint(1800, 5400)
        result = None if index < running else _pick_result(rng)
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


__all__ = [
    "ESCAPE_TITLE",
    "MOVED_BUCKET",
    "PRIVATE_BUCKET",
    "PUBLIC_BUCKET",
    "SandboxBuild",
    "SandboxJob",
    "World",
    "default_world",
    "generated_world",
    "go_json",
    "rfc3339",
    "snowflake",
]
