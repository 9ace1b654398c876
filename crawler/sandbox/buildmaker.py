"""Making realistic builds of one job: PRs, refs, started.json, finished.json and prowjob.json,
every random choice drawn from the caller's seeded ``random.Random``. Shared by the World
(builds added or finished while the sandbox runs) and the world generators.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .records import PROW_HOST, RESULTS, SandboxBuild, SandboxJob, rfc3339

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


@dataclass
class _Pull:
    number: int
    author: str
    sha: str
    title: str


class BuildMaker:
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
            finish(build, result, started + duration(self.rng, result), crier, self.rng)
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


def finish(build: SandboxBuild, result: str, at: int, crier: bool, rng: random.Random) -> None:
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


def duration(rng: random.Random, result: str) -> int:
    low, high = {
        "SUCCESS": (40 * 60, 3 * 3600),
        "FAILURE": (10 * 60, 3 * 3600),
        "ABORTED": (60, 3600),
        "ERROR": (30, 300),
    }[result]
    return rng.randint(low, high)


def pick_result(rng: random.Random) -> str:
    roll = rng.random()  # not rng.choices(weights=...): that is 10x slower at 100k builds
    return "SUCCESS" if roll < 0.65 else "FAILURE" if roll < 0.92 else "ABORTED"


def _sha(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"
