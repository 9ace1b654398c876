"""Uploading to Logilica: builds batched per repository, POSTed, and confirmed in the trackers.

Uploaders pull: a free uploader takes the fullest batch that is ready (see batcher.Batcher). While
every uploader is busy, or the rate is spent (the usual case in a backfill), batches keep
filling instead of leaving half empty; when nothing more can join them they go at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from crawler.core.errors import BuildError, CrawlerError, DiskFault, RemoteError
from crawler.core.jobs import Limits
from crawler.logilica.batcher import BATCH_LINGER_SECONDS, Batcher
from crawler.logilica.client import LogilicaClient
from crawler.net.retry import send_one_by_one
from crawler.state.ledger import BuildTask, JobLedger

Failed = Callable[[BuildTask, str, bool], Awaitable[None]]
Confirmed = Callable[[list[BuildTask]], Awaitable[None]]
# A state file could not be written: the fault, and the confirmed builds it left unrecorded.
Faulted = Callable[[DiskFault, JobLedger, list[BuildTask]], Awaitable[None]]


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
