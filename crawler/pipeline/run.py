"""The orchestrator: discover, download, map and upload the builds of every job at once.

Stages are joined by bounded queues, so memory stays flat and a slow stage slows the ones
before it instead of piling up work. One aiohttp session serves the whole run; each remote
service has its own HostGate (concurrency, rate, shared Retry-After). Each job's files and
counts live in its JobLedger; this module only moves work along.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from crawler.core.builds import BuildRef
from crawler.core.counts import RunSummary
from crawler.core.errors import BuildError, DiskFault, RemoteError
from crawler.core.jobs import Config, RunOptions
from crawler.logilica.client import LogilicaClient
from crawler.logilica.uploads import Uploads
from crawler.net.limits import HostGate
from crawler.net.retry import RetryStats
from crawler.output.report import Reporter
from crawler.pipeline.build import read_payload
from crawler.pipeline.finding import find_builds
from crawler.pipeline.jobset import JobSet, resolve
from crawler.prow.deck import DeckClient
from crawler.prow.gcs import GcsReader
from crawler.state.ledger import BuildTask, JobLedger

# Jobs in progress at once: each holds a lock file, a tracker handle and its queue of builds,
# so thousands of jobs must not all be open together. A job's slot is freed when its last
# build is done, not at the end of the run.
MAX_ACTIVE_JOBS = 64


class Pipeline:
    """One crawl over a set of jobs. Create, then `await run()`."""

    def __init__(self, config: Config, options: RunOptions, reporter: Reporter) -> None:
        self.config = config
        self.options = options
        self.reporter = reporter
        self.limits = config.limits
        self.retry_stats = {service: RetryStats() for service in ("deck", "gcs", "logilica")}
        self._gcs_gate = HostGate("gcs", self.limits.gcs_concurrency)
        self._logilica_gate = HostGate(
            "logilica", self.limits.logilica_concurrency, self.limits.logilica_rps
        )
        self._deck: DeckClient | None = None
        self._uploads: Uploads | None = None
        self._stop = asyncio.Event()
        self.stop_reason: str | None = None
        self.fault: DiskFault | None = None  # the first state file that could not be written
        self._job_slots = asyncio.Semaphore(MAX_ACTIVE_JOBS)
        self._now = time.time()  # horizons (`since: 2d`) count back from the run's start
        self._ledgers: list[JobLedger] = []  # made once the job set is known
        self.jobset = JobSet(config)

    async def run(self) -> RunSummary:
        began = time.monotonic()
        lim = self.limits
        connections = lim.gcs_concurrency + lim.logilica_concurrency + lim.deck_concurrency + 4
        connector = aiohttp.TCPConnector(limit=connections, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(total=lim.timeout)
        try:
            async with aiohttp.ClientSession(
                connector=connector, timeout=timeout, raise_for_status=False
            ) as session:
                await self._run(session)
        finally:
            for ledger in self._ledgers:  # jobs a stop cut short, or never started
                await self._close(ledger)
            self.reporter.stop()
        return self.summary(time.monotonic() - began)

    def summary(self, seconds: float) -> RunSummary:
        """What the run did so far (all of it, once `run` has returned)."""
        summary = RunSummary(jobs=[j.counts for j in self._ledgers], dry_run=self.options.dry_run)
        summary.problems = list(self.jobset.problems)
        summary.feed_requests = self._deck.feed_requests if self._deck else 0
        summary.stopped = self.stop_reason
        if self.fault is not None:
            summary.fault = self.fault.last_line(summary.totals()["unrecorded"])
        summary.seconds = seconds
        summary.retries_by_service = {k: v.retries for k, v in self.retry_stats.items()}
        summary.retries = sum(summary.retries_by_service.values())
        summary.requests = {
            "deck": self._deck.requests if self._deck else 0,
            "gcs": self._gcs_gate.requests,
            "logilica": self._logilica_gate.requests,
        }
        return summary

    def request_stop(self, reason: str) -> None:
        """Stop cleanly: finish in-flight uploads (within the grace period), record them."""
        if not self._stop.is_set():
            self.stop_reason = reason
            self.reporter.message(f"stopping ({reason}): finishing uploads in flight")
            self._stop.set()

    def _halt(self, fault: DiskFault) -> None:
        """A state file could not be written: its filesystem takes no more, so no later
        confirmation could be recorded. No POST starts from now on and downloads stop; POSTs
        in flight finish and their lines are written if the disk allows."""
        if self.fault is not None:
            return
        self.fault = fault
        self.stop_reason = "disk fault"
        self.reporter.message(
            f"stopping: {fault}: starting no more uploads, finishing those in flight"
        )
        if self._uploads is not None:
            self._uploads.halt()
        self._stop.set()

    # -- orchestration ------------------------------------------------------------------

    async def _run(self, session: aiohttp.ClientSession) -> None:
        lim, opts = self.limits, self.options
        self._deck = DeckClient(session, lim, self.retry_stats["deck"])
        self._gcs = GcsReader(
            session,
            self._gcs_gate,
            api_root=opts.gcs_api_root,
            timeout=lim.timeout,
            stats=self.retry_stats["gcs"],
        )
        self.jobset = jobset = await resolve(
            self._deck, self.config, opts, report=self.reporter.message
        )
        for note in jobset.notes:
            self.reporter.message(note)
        for problem in jobset.problems:
            self.reporter.message(f"error: {problem}")
        self._ledgers = [
            JobLedger(spec, opts.tracker_dir, dry_run=opts.dry_run, retry_failed=opts.retry_failed)
            for spec in jobset.config.jobs
        ]
        self.reporter.start([j.counts for j in self._ledgers])
        uploaders: list[asyncio.Task[None]] = []
        if not opts.dry_run:
            assert opts.token is not None and opts.domain is not None
            client = LogilicaClient(
                session,
                self._logilica_gate,
                api_url=opts.api_url or self.config.logilica.api_url,
                token=opts.token,
                domain=opts.domain,
                timeout=lim.timeout,
                stats=self.retry_stats["logilica"],
            )
            self._uploads = Uploads(
                client,
                lim,
                confirmed=self._uploaded,
                failed=self._failed,
                faulted=self._faulted,
                free_slots=self._logilica_gate.free_slots,
            )
            uploaders = [
                asyncio.create_task(self._uploads.worker()) for _ in range(self._uploads.workers)
            ]
        downloads: asyncio.Queue[BuildTask | None] = asyncio.Queue(lim.gcs_concurrency * 2)
        finding = asyncio.create_task(self._discover_and_download(downloads))
        stop = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({finding, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not finding.done():
                # Stop requested: no more history pages or downloads; what is already
                # downloaded still goes out, within the grace period.
                finding.cancel()
            await asyncio.gather(finding, return_exceptions=True)
            if not finding.cancelled() and finding.exception() is not None:
                raise finding.exception()  # type: ignore[misc]
            if self._uploads is not None:
                await self._uploads.batcher.close()
            if self._stop.is_set() and uploaders:
                _done, overdue = await asyncio.wait(uploaders, timeout=opts.grace_seconds)
                for task in overdue:
                    task.cancel()
            # After a stop, uploaders cancelled at the end of the grace period are expected;
            # otherwise an uploader that raised is a bug, and it must surface.
            await asyncio.gather(*uploaders, return_exceptions=self._stop.is_set())
        finally:
            stop.cancel()
            for task in (finding, *uploaders):
                task.cancel()
            await asyncio.gather(finding, *uploaders, stop, return_exceptions=True)
            await jobset.close()

    async def _discover_and_download(self, downloads: asyncio.Queue[BuildTask | None]) -> None:
        async with asyncio.TaskGroup() as tg:
            workers = [
                tg.create_task(self._download_worker(downloads))
                for _ in range(self.limits.gcs_concurrency)
            ]
            async with asyncio.TaskGroup() as discovery:
                for ledger in self._ledgers:
                    discovery.create_task(self._discover(ledger, downloads))
            for _ in workers:
                await downloads.put(None)

    async def _discover(
        self, ledger: JobLedger, downloads: asyncio.Queue[BuildTask | None]
    ) -> None:
        """One job's life: find its new builds, queue them oldest first, and close the job
        once the last has an outcome. It holds a job slot all along."""
        async with self._job_slots:
            candidates = await self._find(ledger)
            if self._uploads is not None:
                await self._uploads.batcher.expect(len(candidates))
            for ref in candidates:
                await downloads.put(BuildTask(ledger, ref))
            if candidates:
                await ledger.finished.wait()
            await self._close(ledger)

    async def _find(self, ledger: JobLedger) -> list[BuildRef]:
        assert self._deck is not None
        feed = self.jobset.feed_for(ledger.spec.url.base)
        candidates, fault = await find_builds(
            ledger, self._deck, self._gcs, self.options, self.reporter, self._now, feed
        )
        if fault is not None:
            self._halt(fault)
        return candidates

    async def _close(self, ledger: JobLedger) -> None:
        """Write the job's files and release its lock (once; later calls do nothing)."""
        problem = await ledger.close()
        if problem is None or (isinstance(problem, DiskFault) and self.fault is not None):
            return  # after a disk fault the old state files stay, whole: the line says it all
        message = f"cannot write the state of {ledger.name}: {problem}"
        ledger.fail_job(message)
        self.reporter.job_failed(ledger.counts, message)
        if isinstance(problem, DiskFault):
            self._halt(problem)

    # -- download and map ---------------------------------------------------------------

    async def _download_worker(self, downloads: asyncio.Queue[BuildTask | None]) -> None:
        while (task := await downloads.get()) is not None:
            try:
                await self._download(task)
            except (BuildError, RemoteError) as exc:
                await self._failed(task, str(exc), exc.permanent)
            except ValueError as exc:  # undecodable JSON or gzip in GCS: it will not change
                await self._failed(task, str(exc), True)
            finally:
                if self._uploads is not None:
                    await self._uploads.batcher.landed()

    async def _download(self, task: BuildTask) -> None:
        """Read and map one build, then hand it to the uploads (or show it, in a dry run)."""
        ledger = task.ledger
        task.ref, task.payload = await read_payload(self._gcs, self.config, ledger.spec, task.ref)
        if task.payload is None:
            # Deck showed a result but finished.json is not there (yet): still running.
            ledger.still_running(task.ref, self._now)
            self.reporter.build_done(ledger.counts, task.ref.id, "running")
        elif self._uploads is None:
            ledger.would_upload()
            self.reporter.would_upload(ledger.counts, task.ref.id, task.payload)
        else:
            repo_id = await self._uploads.repo_id(task.payload.repo)
            await self._uploads.batcher.add(repo_id, task)

    # -- outcomes -----------------------------------------------------------------------

    async def _uploaded(self, tasks: list[BuildTask]) -> None:
        for task in tasks:
            self.reporter.build_done(task.ledger.counts, task.ref.id, "uploaded")

    async def _faulted(
        self, fault: DiskFault, ledger: JobLedger, unrecorded: list[BuildTask]
    ) -> None:
        if self.fault is None:
            ledger.fail_job(str(fault))
        for task in unrecorded:
            self.reporter.build_done(task.ledger.counts, task.ref.id, "unrecorded", str(fault))
        self._halt(fault)

    async def _failed(self, task: BuildTask, reason: str, permanent: bool) -> None:
        reason = task.ledger.failed(task.ref, reason, permanent=permanent)
        self.reporter.build_done(task.ledger.counts, task.ref.id, "failed", reason)
