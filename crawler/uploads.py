"""Uploading to Logilica: builds batched per repository, POSTed, and confirmed in the trackers.

Uploaders pull: a free uploader takes the fullest batch that is ready (see Batcher). While
every uploader is busy, or the rate is spent (the usual case in a backfill), batches keep
filling instead of leaving half empty; when nothing more can join them they go at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from crawler.config import Limits
from crawler.errors import BuildError, CrawlerError, DiskFault, RemoteError
from crawler.ledger import BuildTask, JobLedger
from crawler.logilica import LogilicaClient
from crawler.retry import send_one_by_one

# How long a partly filled batch waits for more builds of its repository.
BATCH_LINGER_SECONDS = 0.2
# A batch whose linger is over but that the rate cannot take yet is looked at again this often.
RATE_RECHECK_SECONDS = 0.05

Failed = Callable[[BuildTask, str, bool], Awaitable[None]]
Confirmed = Callable[[list[BuildTask]], Awaitable[None]]
# A state file could not be written: the fault, and the confirmed builds it left unrecorded.
Faulted = Callable[[DiskFault, JobLedger, list[BuildTask]], Awaitable[None]]


@dataclass
class _Batch:
    repo_id: str
    tasks: list[BuildTask] = field(default_factory=list)
    opened: float = field(default_factory=time.monotonic)


class Batcher:
    """Groups builds of one Logilica repository into POSTs of up to `size` builds.

    A batch is ready when it is full; when nothing more can join it (no download in flight,
    or the run's downloads are over); when the batcher is at capacity; or when it has waited
    `linger` seconds and the rate limit has a slot to spare for every other open batch. The
    last rule keeps early, half-empty POSTs from using up the rate that the final flush of
    every repository needs: with a sliding-window limit, R repositories can then all go out
    the moment their builds are in. `add` blocks beyond `capacity` builds, which slows the
    downloads instead of piling builds up in memory.
    """

    def __init__(
        self,
        size: int,
        linger: float,
        *,
        capacity: int,
        free_slots: Callable[[], float] | None = None,
    ) -> None:
        self._size = size
        self._linger = linger
        self._capacity = max(capacity, size)
        self._free_slots = free_slots or (lambda: math.inf)
        self._open: dict[str, _Batch] = {}
        self._count = 0
        self._coming = 0  # builds being downloaded, which may still join a batch
        self._closed = False
        self._changed = asyncio.Condition()

    async def expect(self, builds: int) -> None:
        """`builds` more are on their way (queued for download): batches may grow."""
        async with self._changed:
            self._coming += builds

    async def landed(self) -> None:
        """One expected build's download is over (added to a batch, or failed)."""
        async with self._changed:
            self._coming -= 1
            if self._coming <= 0:  # nothing more can join a batch: every open one is ready
                self._changed.notify_all()

    async def add(self, repo_id: str, task: BuildTask) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._count < self._capacity)
            first = not self._open
            batch = self._open.setdefault(repo_id, _Batch(repo_id))
            batch.tasks.append(task)
            self._count += 1
            # Wake the uploaders only when this can change what they do: a batch just became
            # ready, or the first open batch starts the linger clock they sleep on. Waking
            # them for every build cost more CPU than the batching itself.
            if first or len(batch.tasks) == self._size or self._count >= self._capacity:
                self._changed.notify_all()

    async def get(self) -> _Batch | None:
        """The next batch to send; None once closed and empty."""
        async with self._changed:
            while True:
                batch = self._take()
                if batch is not None:
                    self._changed.notify_all()
                    return batch
                if self._closed and not self._open:
                    return None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._next_look()):
                        await self._changed.wait()

    def _ready(self, batch: _Batch, now: float) -> bool:
        if len(batch.tasks) >= self._size or self._closed or self._coming <= 0:
            return True
        if self._count >= self._capacity:
            return True  # the fullest goes, or downloads would wait for ever
        return now - batch.opened >= self._linger and self._free_slots() > len(self._open)

    def _next_look(self) -> float | None:
        """When a batch may become ready without anything being added: its linger ends, or
        (linger over, the rate short of slots) a little later, when the window has moved."""
        oldest = min((b.opened for b in self._open.values()), default=None)
        if oldest is None:
            return None
        return max(oldest + self._linger - time.monotonic(), RATE_RECHECK_SECONDS)

    def _take(self) -> _Batch | None:
        now = time.monotonic()
        ready = [b for b in self._open.values() if self._ready(b, now)]
        if not ready:
            return None
        batch = max(ready, key=lambda b: len(b.tasks))
        taken, rest = batch.tasks[: self._size], batch.tasks[self._size :]
        if rest:
            batch.tasks = rest  # keeps its age: those builds have waited as long
        else:
            del self._open[batch.repo_id]
        self._count -= len(taken)
        return _Batch(batch.repo_id, taken, batch.opened)

    async def close(self) -> None:
        """No more builds: everything open is sent at once, then get() returns None."""
        async with self._changed:
            self._closed = True
            self._changed.notify_all()


class Uploads:
    """Batches, POSTs and confirms builds; tells the caller each build's outcome.

    A 2xx confirms a batch: its builds go into their jobs' trackers at once, then `confirmed`
    is told. A batch refused with a 4xx is sent again build by build, so one bad build does
    not sink the others; what still fails is handed to `failed`. Once `halt` is called (a
    tracker's disk is full or read-only) no POST starts: a confirmation could not be
    recorded, so the build would only be uploaded again by the next run.
    """

    def __init__(
        self,
        client: LogilicaClient,
        limits: Limits,
        *,
        confirmed: Confirmed,
        failed: Failed,
        faulted: Faulted,
        free_slots: Callable[[], float] | None = None,
    ) -> None:
        self._client = client
        self.workers = limits.logilica_concurrency
        # Room for two rounds of full batches: enough to keep every uploader busy.
        capacity = limits.batch_size * limits.logilica_concurrency * 2
        self.batcher = Batcher(
            limits.batch_size, BATCH_LINGER_SECONDS, capacity=capacity, free_slots=free_slots
        )
        self._confirmed = confirmed
        self._failed = failed
        self._faulted = faulted
        self.halted = False
        # Fetched when the first build needs it: a cron run with nothing new never asks.
        self._repos: dict[str, str] | None = None
        self._repos_error: CrawlerError | None = None
        self._repos_lock = asyncio.Lock()

    async def repo_id(self, repo: str) -> str:
        """Logilica's id of a repository (`GET /repositories` once per run). A failure fails
        every build that needs it with the same message; it is not retried for each."""
        async with self._repos_lock:
            if self._repos is None and self._repos_error is None:
                try:
                    self._repos = await self._client.repositories()
                except CrawlerError as exc:
                    self._repos_error = RemoteError(f"cannot list Logilica repositories: {exc}")
            if self._repos_error is not None:
                raise self._repos_error
            assert self._repos is not None
        repo_id = self._repos.get(repo.lower())
        if repo_id is None:
            raise BuildError(f"repository {repo} is not known to Logilica")
        return repo_id

    def halt(self) -> None:
        """Start no more POSTs (those in flight finish); what is still batched stays unsent,
        for the next run."""
        self.halted = True

    async def worker(self) -> None:
        """One uploader: send batches until the batcher is closed and empty."""
        while (batch := await self.batcher.get()) is not None:
            if not self.halted:
                await self._send(batch.repo_id, batch.tasks)

    async def _room_for(self, tasks: list[BuildTask]) -> bool:
        """Every tracker of the batch can take its lines; else the fault is reported."""
        for ledger, group in _by_job(tasks):
            try:
                await ledger.prepare(len(group))
            except DiskFault as fault:
                await self._faulted(fault, ledger, [])
                return False
        return True

    async def _send(self, repo_id: str, tasks: list[BuildTask]) -> None:
        if self.halted or not await self._room_for(tasks):
            return
        bodies = [t.payload.body for t in tasks if t.payload is not None]
        try:
            await self._client.create_builds(repo_id, bodies)
        except RemoteError as exc:
            if send_one_by_one(exc, len(tasks)):
                for task in tasks:
                    await self._send(repo_id, [task])
                return
            for task in tasks:
                await self._failed(task, str(exc), exc.permanent)
            return
        await self._confirm(tasks)

    async def _confirm(self, tasks: list[BuildTask]) -> None:
        """Logilica answered 2xx: record the builds in their jobs' trackers at once."""
        for ledger, group in _by_job(tasks):
            try:
                await ledger.confirmed(group)
            except DiskFault as fault:
                await self._confirmed(group[: fault.kept])
                await self._faulted(fault, ledger, group[fault.kept :])
                continue
            await self._confirmed(group)


def _by_job(tasks: list[BuildTask]) -> list[tuple[JobLedger, list[BuildTask]]]:
    """The tasks grouped by job, in the order the jobs first appear."""
    by_job: dict[int, tuple[JobLedger, list[BuildTask]]] = {}
    for task in tasks:
        by_job.setdefault(id(task.ledger), (task.ledger, []))[1].append(task)
    return list(by_job.values())
