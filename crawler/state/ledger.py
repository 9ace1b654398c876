"""One job's life in a run: its lock and files, what is settled, what is left, its counts.

Open it (lock, tracker, failures, checkpoint: what is settled), hand it what discovery found,
tell it each build's outcome (confirmed by Logilica, failed, still running), close it: the
failures file and the checkpoint (the new floor) are written once, when the job is done or
the run ends, whichever comes first.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from pathlib import Path

from crawler.core.builds import BuildRef, started_epoch
from crawler.core.counts import JobCounts
from crawler.core.defaults import GIVE_UP_AFTER_RUNS
from crawler.core.errors import DiskFault
from crawler.core.found import PENDING_GIVE_UP_SECONDS, Found, Settled
from crawler.core.horizon import Horizon, build_started
from crawler.core.jobs import JobSpec
from crawler.core.records import Payload
from crawler.state.checkpoint import (
    Checkpoint,
    newest_start,
    read_checkpoint,
    write_checkpoint,
)
from crawler.state.failures import FailureLog
from crawler.state.tracker import Tracker


@dataclass
class BuildTask:
    """One build of a job on its way: found, then downloaded and mapped, then uploaded."""

    ledger: JobLedger
    ref: BuildRef
    payload: Payload | None = None


class JobLedger:
    """Everything one run knows and decides about one job."""

    def __init__(
        self, spec: JobSpec, directory: Path, *, dry_run: bool, retry_failed: bool
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.counts = JobCounts(name=spec.name)
        self.repaired: str | None = None  # what loading the tracker fixed, to tell the user
        self._directory = directory
        self._dry_run = dry_run
        self._retry_failed = retry_failed
        self._tracker = Tracker(directory, spec.name)
        self._failures = FailureLog(directory, spec.name)
        self._saved = Checkpoint()
        self._floor = 0  # this run's floor
        self._opened_at = time.time()
        self._checkpoint_read = False  # a job whose files could not be read keeps its own
        self._horizon_id = 0
        self._found: Found | None = None
        self._unsettled: set[int] = set()
        self._running: set[int] = set()
        self._running_refs: dict[int, BuildRef] = {}  # their folders, kept for the next run
        self._outstanding = 0
        self._newest: tuple[int, float | None] | None = None  # newest tracked build, its start
        self._starts: dict[int, float] = {}  # deck's Started of small (non-snowflake) IDs
        self.finished = asyncio.Event()  # set when every build handed out has an outcome
        self._owned = False  # we hold the lock, so the files are ours to write
        self._closed = False

    async def open(self, *, lock_wait: float, horizon: Horizon | None) -> Settled:
        """Lock the job (not in a dry run, which writes nothing) and read what is settled.
        Raises JobLocked, or CrawlerError / OSError for files that cannot be used."""
        if not self._dry_run:
            await self._tracker.lock(wait=lock_wait)
            self._owned = True
        tracked = await self._tracker.load(repair=not self._dry_run)
        self.repaired = tracked.repaired
        self._failures.load()
        self._saved = saved = read_checkpoint(self._directory, self.name)
        self._checkpoint_read = True
        if tracked.newest is not None:
            self._newest = (tracked.newest, newest_start(saved, tracked.newest))
        self._horizon_id = horizon.first_id if horizon is not None else 0
        if horizon is not None:
            self.counts.horizon = horizon.describe()
        # The saved floor holds from its horizon up: a horizon moved back, or --retry-failed
        # (given-up builds below the floor), means looking at everything again.
        fresh = self._retry_failed or self._horizon_id < saved.horizon
        self._floor = 0 if fresh else saved.floor
        given_up = frozenset() if self._retry_failed else frozenset(self._failures.given_up())
        self.counts.given_up = len(given_up)  # reported every run, seen or not
        return Settled(
            tracked=tracked.ids,
            given_up=given_up,
            floor=self._floor,
            backlog=saved.backlog,
            distrusted=saved.distrusted,
            seen_at=saved.seen_at,
            feed=saved.feed,
            running=saved.running,
            fresh=fresh,
        )

    def begin(self, found: Found) -> list[BuildRef]:
        """Take discovery's result; the builds to process, oldest first."""
        self._found = found
        self._unsettled = set(found.unsettled)
        self._running = set(found.running_ids)
        self._running_refs = {r.key: r for r in found.running_refs if r.key in self._running}
        c = self.counts
        c.found, c.new, c.running, c.pages = found.found, found.new, found.running, found.pages
        c.discovery = found.via
        c.attempted = len(found.candidates)
        c.deferred = found.new - c.attempted
        c.failed += len(found.problems)
        c.errors += found.problems
        if found.error is not None:
            self.fail_job(found.error)
        self._outstanding = len(found.candidates)
        for ref in found.candidates:
            started = started_epoch(ref)
            if started is not None and build_started(ref.key) is None:
                self._starts[ref.key] = started
        self._count_outcomes(0)
        return found.candidates

    def fail_job(self, message: str) -> None:
        self.counts.status = "failed"
        self.counts.errors.append(message)

    # -- outcomes (`finished` is set when the last one is in) ------------------------------

    async def prepare(self, builds: int) -> None:
        """Before a POST: the tracker has room for `builds` lines (DiskFault if not)."""
        await self._tracker.prepare(builds)

    async def confirmed(self, tasks: list[BuildTask]) -> None:
        """Logilica answered 2xx: record the builds in the tracker at once. DiskFault if the
        tracker refused: the builds it kept count as uploaded, the rest as unrecorded."""
        try:
            await self._tracker.append([t.ref.id for t in tasks])
        except DiskFault as fault:
            self._recorded(tasks[: fault.kept])
            lost = len(tasks) - fault.kept
            self.counts.unrecorded += lost
            self._count_outcomes(lost)
            raise
        self._recorded(tasks)

    def _recorded(self, tasks: list[BuildTask]) -> None:
        for task in tasks:
            ref = task.ref
            self._failures.clear(ref.id)
            self._unsettled.discard(ref.key)
            if self._newest is None or ref.key > self._newest[0]:
                body = task.payload.body if task.payload is not None else {}
                started = body.get("startedAt")
                self._newest = (ref.key, build_started(ref.key, started))
        self.counts.uploaded += len(tasks)
        self._count_outcomes(len(tasks))

    def would_upload(self) -> None:
        """A dry run got this far with the build."""
        self.counts.uploaded += 1
        self._count_outcomes(1)

    def failed(self, ref: BuildRef, reason: str, *, permanent: bool) -> str:
        """The build failed in this run; a permanent failure is counted towards giving up.
        Returns the reason as the user should read it."""
        self.counts.failed += 1
        if permanent and not self._dry_run:
            attempts = self._failures.add(ref.id, reason).attempts
            reason += f" (failed for good, attempt {attempts}/{GIVE_UP_AFTER_RUNS})"
            if attempts >= GIVE_UP_AFTER_RUNS:
                self._unsettled.discard(ref.key)
        self.counts.errors.append(f"build {ref.id}: {reason}")
        self._count_outcomes(1)
        return reason

    def still_running(self, ref: BuildRef, now: float | None = None) -> None:
        """finished.json is not there yet: a later run takes the build, unless it has been
        running for so long that it was abandoned."""
        self.counts.running += 1
        began = build_started(ref.key, started_epoch(ref))
        if began is not None and (now or time.time()) - began >= PENDING_GIVE_UP_SECONDS:
            self._unsettled.discard(ref.key)
        else:
            self._running.add(ref.key)
            self._running_refs[ref.key] = ref
        self._count_outcomes(1)

    def _count_outcomes(self, outcomes: int) -> None:
        self._outstanding -= outcomes
        if self._outstanding <= 0:
            self.finished.set()

    # -- the end ---------------------------------------------------------------------------

    def next_checkpoint(self) -> Checkpoint:
        """The checkpoint this run leaves: the floor moves up to the lowest build still
        unsettled, if discovery saw everything down to the old floor (or the horizon)."""
        found, saved = self._found, self._saved
        pending = self._unsettled - self._running
        backlog = len(pending)
        newest_id, newest_started = self._newest if self._newest else (None, None)
        seen = found is not None and found.complete and found.error is None
        behind = self._behind_since(pending, seen)
        watch = {
            "newest_id": newest_id,
            "newest_started": newest_started,
            "seen_at": self._opened_at if seen else saved.seen_at,
            "behind_since": behind,
            "feed": saved.feed if found is None or found.feed is None else found.feed,
            "running": self._kept_running(found, saved),
        }
        if found is None:
            return replace(saved, **watch)
        verdict = found.listing
        distrusted, reason = saved.distrusted, saved.distrust_reason
        if verdict is not None:
            distrusted, reason = ((), "") if verdict.trusted else (verdict.buckets, verdict.reason)
        if found.complete and found.error is None:
            if self._unsettled:
                floor = min(self._unsettled)
            else:
                newest = found.newest + 1 if found.newest is not None else 0
                floor = max(self._floor, newest)
            horizon = self._horizon_id
        else:
            # Part of the history was not read: what lies below it is as unknown as before.
            floor = self._floor
            horizon = saved.horizon if self._floor == saved.floor else self._horizon_id
        return Checkpoint(floor, horizon, backlog, tuple(distrusted), reason, **watch)

    def _kept_running(self, found: Found | None, saved: Checkpoint) -> tuple[BuildRef, ...]:
        """The running builds the next run must look up even where no page is read: this
        run's (settled ones left out), else, for a job this run could not see, the old ones."""
        if found is None or not (found.complete and found.error is None):
            return saved.running
        refs = (self._running_refs.get(k) for k in sorted(self._running & self._unsettled))
        return tuple(r for r in refs if r is not None)

    def _behind_since(self, pending: set[int], seen: bool) -> float | None:
        """Since when Logilica lacks builds of this job: the start of the oldest pending
        build; when this run could not see the whole job, no later than when it last did."""
        starts = [s for s in (self._starts.get(k) or build_started(k) for k in pending) if s]
        oldest = min(starts) if starts else None
        if pending and oldest is None:
            oldest = self._opened_at  # small IDs deck gave no time for: at least since now
        if seen:
            return oldest
        saved = self._saved
        before = saved.behind_since or saved.seen_at
        return min(t for t in (oldest, before) if t is not None) if oldest or before else None

    async def close(self) -> OSError | DiskFault | None:
        """Write the failures and the checkpoint (only if this run owns the job), release the
        lock. Safe to call again; returns what could not be written, if anything (the old
        files stay whole: both are replaced atomically)."""
        if self._closed:
            return None
        self._closed = True
        checkpoint = self.next_checkpoint()
        self.counts.backlog = checkpoint.backlog
        problem: OSError | DiskFault | None = None
        if self._owned:
            try:
                self._failures.save()
                if self._checkpoint_read:
                    write_checkpoint(self._directory, self.name, checkpoint)
            except OSError as exc:
                problem = DiskFault.of(exc.filename or self._directory, exc)
        self._owned = False
        await self._tracker.close()
        return problem
