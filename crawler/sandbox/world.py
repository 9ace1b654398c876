"""The World: every job, build and repository the fake services serve, and the only ways to
change them while the sandbox runs.

Pure and deterministic (every random choice comes from a seeded ``random.Random``) so that
tests and benchmarks see the same world on every run. The services in this package only
*serve* a World; they never invent data of their own (worldgen.py makes the worlds).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from .buildmaker import BuildMaker, duration, finish, pick_result
from .records import MOVED_BUCKET, SandboxBuild, SandboxJob, snowflake

# The sandbox's present: today at 00:00 UTC. Its running builds must be recent, as real ones
# are (a build deck shows running for over 48 hours counts as abandoned), and a world must
# stay the same all day long.
DEFAULT_NOW = int(time.time()) // 86400 * 86400


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
            at = build.started + duration(self._rng, result)
        if at < build.started:
            raise ValueError("a build cannot finish before it started")
        finish(build, result, at, crier=False, rng=self._rng)
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
        maker = BuildMaker(self._rng, node=self.jobs.index(j))
        newest = j.builds[0] if j.builds else None
        at = (newest.started if newest else DEFAULT_NOW - 86400) + 600
        base_id = int(newest.id) if newest else 0
        bucket = newest.bucket if newest else j.bucket
        added = []
        for _ in range(n):
            at += self._rng.randint(600, 3600)
            build_id = max(snowflake(at * 1000, maker.node), base_id + 1)
            base_id = build_id
            result = None if running else pick_result(self._rng)
            added.append(maker.build(j, build_id, at, result, bucket=bucket))
        j.builds[:0] = reversed(added)
        return added
