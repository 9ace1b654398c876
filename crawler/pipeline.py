"""The orchestrator: discover, download, map and upload builds of every job at once.

Stages are joined by bounded queues, so memory stays flat and a slow stage slows the ones
before it instead of piling up work. One aiohttp session serves the whole run; each remote
service has its own HostGate (concurrency, rate, shared Retry-After).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from crawler.config import Config, JobSpec
from crawler.discovery import Frontier, Known, discover_deck, discover_gcs, resolve_indirect
from crawler.errors import BuildError, CrawlerError, RemoteError
from crawler.gcs import DECODE_TRIES, PUBLIC_API_ROOT, GcsReader
from crawler.http import exchange
from crawler.limits import HostGate, RetryStats
from crawler.logilica import LogilicaClient, Secret
from crawler.prow import (
    BuildRef,
    HistoryPage,
    PageError,
    parse_history_page,
)
from crawler.record import Artifacts, Record, needs_prowjob, to_record
from crawler.report import JobStats, Reporter, RunSummary
from crawler.tracker import (
    MAX_FAILED_ATTEMPTS,
    FailureLog,
    JobLocked,
    JobState,
    Tracker,
    read_state,
    write_state,
)

# Jobs in progress at once (see Pipeline._job_slots).
MAX_ACTIVE_JOBS = 64
# In auto discovery, a job that ended its last run with more unsettled builds than a deck page
# holds is still catching up: list the bucket rather than walk pages.
AUTO_LIST_BACKLOG = 20
# Deck pages are small HTML; cap them so a broken deck cannot exhaust memory.
MAX_PAGE_BYTES = 16 * 1024 * 1024
# How long a partly filled upload batch waits for more builds of the same repository.
BATCH_LINGER_SECONDS = 0.2


@dataclass(frozen=True)
class RunOptions:
    tracker_dir: Path
    dry_run: bool = False
    limit: int | None = 50  # per job; 0 or None = no limit (a job's own limit wins if set)
    max_pages: int | None = None
    verbose: bool = False
    gcs_api_root: str = PUBLIC_API_ROOT
    token: Secret | None = None
    domain: str | None = None
    api_url: str | None = None
    grace_seconds: float = 10.0
    retry_failed: bool = False  # retry builds that failed for good MAX_FAILED_ATTEMPTS times
    lock_wait: float = 0.0  # seconds to wait for a job locked by another run (0: skip it)
    # How new builds are found when the job does not say: deck, gcs, or auto (gcs while a job
    # catches up on its history, deck once it is up to date).
    discovery: str = "auto"


@dataclass
class _Job:
    """Per-run state of one job: its spec, its tracker and its counters."""

    spec: JobSpec
    stats: JobStats
    tracker: Tracker
    failures: FailureLog
    tracked: frozenset[int] = frozenset()
    given_up: frozenset[int] = frozenset()
    owned: bool = False  # we hold its lock, so its files are ours to write
    outstanding: int = 0  # queued builds not yet uploaded or failed
    frontier: Frontier | None = None  # set once discovery succeeded
    active: bool = False  # holds one of the run's job slots


@dataclass
class _Item:
    job: _Job
    build: BuildRef
    record: Record | None = None


@dataclass
class _Batch:
    repo_id: str
    items: list[_Item] = field(default_factory=list)
    opened: float = field(default_factory=time.monotonic)


class Pipeline:
    """One crawl over a set of jobs. Create, then `await run()`."""

    def __init__(self, config: Config, options: RunOptions, reporter: Reporter) -> None:
        self.config = config
        self.options = options
        self.reporter = reporter
        self.limits = config.limits
        self.retry_stats = RetryStats()
        self._deck_gates: dict[str, HostGate] = {}
        self._gcs_gate = HostGate("gcs", self.limits.gcs_concurrency)
        self._logilica_gate = HostGate(
            "logilica", self.limits.logilica_concurrency, self.limits.logilica_rps
        )
        # Fetched when the first build needs it: a cron run with nothing new never asks.
        self._repos: dict[str, str] | None = None
        self._repos_error: CrawlerError | None = None
        self._repos_lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self.stop_reason: str | None = None
        # Jobs in progress at once: each holds a lock file, a tracker handle and its queue of
        # builds, so thousands of jobs must not all be open together.
        self._job_slots = asyncio.Semaphore(MAX_ACTIVE_JOBS)
        self._jobs = [
            _Job(
                spec=j,
                stats=JobStats(name=j.name),
                tracker=Tracker(options.tracker_dir, j.name),
                failures=FailureLog(options.tracker_dir, j.name),
            )
            for j in config.jobs
        ]

    # -- public -------------------------------------------------------------------------

    async def run(self) -> RunSummary:
        started = time.monotonic()
        summary = RunSummary(jobs=[j.stats for j in self._jobs], dry_run=self.options.dry_run)
        self.reporter.start(summary.jobs)
        connector = aiohttp.TCPConnector(limit=self._connection_limit(), ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(total=self.limits.timeout)
        try:
            async with aiohttp.ClientSession(
                connector=connector, timeout=timeout, raise_for_status=False
            ) as session:
                await self._run(session)
        finally:
            for job in self._jobs:
                await self._finish_job(job)
            self.reporter.stop()
        summary.stopped = self.stop_reason
        summary.seconds = time.monotonic() - started
        summary.retries = self.retry_stats.retries
        summary.requests = {
            "deck": sum(g.requests for g in self._deck_gates.values()),
            "gcs": self._gcs_gate.requests,
            "logilica": self._logilica_gate.requests,
        }
        return summary

    # -- orchestration ------------------------------------------------------------------

    def _connection_limit(self) -> int:
        lim = self.limits
        return lim.gcs_concurrency + lim.logilica_concurrency + lim.deck_concurrency + 4

    async def _run(self, session: aiohttp.ClientSession) -> None:
        self._gcs = GcsReader(
            session,
            self._gcs_gate,
            api_root=self.options.gcs_api_root,
            timeout=self.limits.timeout,
            stats=self.retry_stats,
        )
        self._logilica: LogilicaClient | None = None
        if not self.options.dry_run:
            assert self.options.token is not None and self.options.domain is not None
            self._logilica = LogilicaClient(
                session,
                self._logilica_gate,
                api_url=self.options.api_url or self.config.logilica.api_url,
                token=self.options.token,
                domain=self.options.domain,
                timeout=self.limits.timeout,
                stats=self.retry_stats,
            )
        self._session = session
        downloads: asyncio.Queue[_Item | None] = asyncio.Queue(self.limits.gcs_concurrency * 2)
        batcher = _Batcher(
            self.limits.batch_size,
            BATCH_LINGER_SECONDS,
            capacity=self.limits.batch_size * self.limits.logilica_concurrency * 2,
        )
        uploaders = [
            asyncio.create_task(self._upload_worker(batcher))
            for _ in range(self.limits.logilica_concurrency)
        ]
        front = asyncio.create_task(self._discover_and_download(downloads, batcher))
        stop = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({front, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not front.done():
                # Stop requested: no more history pages or downloads; what is already
                # downloaded still goes out, within the grace period.
                front.cancel()
            await asyncio.gather(front, return_exceptions=True)
            if not front.cancelled() and front.exception() is not None:
                raise front.exception()  # type: ignore[misc]
            await batcher.close()
            if self._stop.is_set():
                _done, late = await asyncio.wait(uploaders, timeout=self.options.grace_seconds)
                for task in late:
                    task.cancel()
            await asyncio.gather(*uploaders, return_exceptions=not self._stop.is_set())
        finally:
            stop.cancel()
            for task in (front, *uploaders):
                task.cancel()
            await asyncio.gather(front, *uploaders, stop, return_exceptions=True)

    async def _discover_and_download(
        self, downloads: asyncio.Queue[_Item | None], batcher: _Batcher
    ) -> None:
        async with asyncio.TaskGroup() as tg:
            downloaders = [
                tg.create_task(self._download_worker(downloads, batcher))
                for _ in range(self.limits.gcs_concurrency)
            ]
            async with asyncio.TaskGroup() as discovery:
                for job in self._jobs:
                    discovery.create_task(self._discover(job, downloads))
            for _ in downloaders:
                await downloads.put(None)

    def request_stop(self, reason: str) -> None:
        """Stop cleanly: finish in-flight uploads (within the grace period), record them."""
        if not self._stop.is_set():
            self.stop_reason = reason
            self.reporter.message(f"stopping ({reason}): finishing uploads in flight")
            self._stop.set()

    def _deck_gate(self, url: str) -> HostGate:
        host = urlsplit(url).netloc
        if host not in self._deck_gates:
            self._deck_gates[host] = HostGate(
                f"deck {host}", self.limits.deck_concurrency, self.limits.deck_rps
            )
        return self._deck_gates[host]

    # -- discovery ----------------------------------------------------------------------

    async def _fetch_page(self, url: str) -> HistoryPage:
        """GET and parse one history page; a page that does not parse is fetched again
        (DECODE_TRIES in all): a body cut short in transit is not a broken deck."""
        for attempt in range(1, DECODE_TRIES + 1):
            resp = await exchange(
                self._session,
                self._deck_gate(url),
                "GET",
                url,
                what=f"deck {url}",
                cap=MAX_PAGE_BYTES,
                timeout=self.limits.timeout,
                stats=self.retry_stats,
            )
            text = resp.body.decode("utf-8", "replace")
            if resp.status != 200:
                first = text.strip().splitlines()[0][:200] if text.strip() else ""
                raise RemoteError(f"deck {url}: HTTP {resp.status}: {first}", status=resp.status)
            try:
                return parse_history_page(text, url)
            except PageError as exc:
                if attempt == DECODE_TRIES:
                    raise PageError(f"deck {url}: {exc}") from None
                self.retry_stats.retries += 1
        raise AssertionError("unreachable")

    async def _discover(self, job: _Job, downloads: asyncio.Queue[_Item | None]) -> None:
        """Walk the job's history back to where it is fully tracked; queue the new builds.

        Builds are queued oldest first and, with a limit, only the oldest `limit` of them, so
        what a run leaves out is always newer than what it did: the next walk finds it.
        """
        await self._job_slots.acquire()
        job.active = True
        try:
            await self._discover_job(job, downloads)
        finally:
            if job.outstanding == 0:
                await self._finish_job(job)

    async def _discover_job(self, job: _Job, downloads: asyncio.Queue[_Item | None]) -> None:
        stats = job.stats
        dry = self.options.dry_run
        try:
            # A dry run writes nothing, not even a lock file, and repairs nothing.
            if not dry:
                await job.tracker.lock(wait=self.options.lock_wait)
                job.owned = True
            state = await job.tracker.load(repair=not dry)
            job.failures.load()
        except JobLocked as exc:
            stats.status = "locked"
            if self.options.lock_wait:
                # Asked to wait and still locked: this run did not do what it was asked to.
                stats.status = "failed"
                stats.errors.append(str(exc))
            self.reporter.message(f"skipped job={job.spec.name}: {exc}")
            self.reporter.job_discovered(stats)
            return
        except (CrawlerError, OSError) as exc:
            self._fail_job(job, str(exc))
            return
        if state.repaired:
            self.reporter.message(f"repaired job={job.spec.name}: {state.repaired}")
        if not self.options.retry_failed:
            job.given_up = frozenset(job.failures.given_up())
        # Reported every run (they sit in the failures file, see `status`), seen or not.
        job.stats.given_up = len(job.given_up)
        known = Known(tracked=state.ids, given_up=job.given_up)
        limit = job.spec.limit if job.spec.limit is not None else self.options.limit
        keep: deque[BuildRef] = deque(maxlen=limit or None)
        mode = job.spec.discovery or self.options.discovery
        saved = read_state(self.options.tracker_dir, job.spec.name)
        # --retry-failed must see given-up builds below the floor again.
        frontier = Frontier(floor=0 if self.options.retry_failed else saved.floor)
        if mode == "auto":
            # A whole history to read (first run, old-script trackers, --retry-failed) or a
            # backlog left by a limited backfill: the listing is complete and costs a request
            # per 1000 builds. Up to date: deck's first page says what is new.
            catching_up = frontier.floor == 0 or saved.backlog > AUTO_LIST_BACKLOG
            mode = "gcs" if catching_up and self.options.max_pages is None else "deck"
        try:
            if mode == "gcs":
                await discover_gcs(self._gcs, job.spec, known, stats, keep, frontier)
            else:
                await discover_deck(
                    self._fetch_page,
                    job.spec,
                    known,
                    stats,
                    keep,
                    frontier,
                    max_pages=self.options.max_pages,
                )
        except (CrawlerError, PageError, OSError) as exc:
            # What was found so far is still uploaded: the walk did not complete, so the floor
            # stays where it was and the next run looks at the unread part again.
            self._fail_job(job, f"job history: {exc}")
        job.frontier = frontier
        stats.attempted = len(keep)
        stats.deferred = stats.new - stats.attempted
        self.reporter.job_discovered(stats)
        job.outstanding = len(keep)
        while keep:
            await downloads.put(_Item(job=job, build=keep.pop()))

    async def _finish_job(self, job: _Job) -> None:
        """All of a job's builds are done (or the run ends): write its files, free its slot."""
        if job.owned and not self.options.dry_run:
            try:
                job.failures.save()
                if job.frontier is not None:
                    state = JobState(job.frontier.next_floor(), len(job.frontier.open))
                    write_state(self.options.tracker_dir, job.spec.name, state)
            except OSError as exc:
                job.stats.errors.append(f"cannot write the state of {job.spec.name}: {exc}")
        job.owned = False
        await job.tracker.close()
        if job.active:
            job.active = False
            self._job_slots.release()

    async def _item_done(self, item: _Item) -> None:
        job = item.job
        job.outstanding -= 1
        if job.outstanding == 0:
            await self._finish_job(job)

    def _fail_job(self, job: _Job, message: str) -> None:
        job.stats.status = "failed"
        job.stats.errors.append(message)
        self.reporter.message(f"failed job={job.spec.name}: {message}")
        self.reporter.job_discovered(job.stats)

    # -- download and map ---------------------------------------------------------------

    async def _download_worker(
        self, downloads: asyncio.Queue[_Item | None], batcher: _Batcher
    ) -> None:
        while (item := await downloads.get()) is not None:
            try:
                repo_id = await self._prepare(item)
            except (BuildError, RemoteError) as exc:
                await self._build_failed(item, str(exc), permanent=exc.permanent)
                continue
            except ValueError as exc:  # undecodable JSON or gzip in GCS: it will not change
                await self._build_failed(item, str(exc), permanent=True)
                continue
            if repo_id is None:
                await self._item_done(item)
            elif self.options.dry_run:
                self._dry_run_line(item)
                await self._item_done(item)
            else:
                await batcher.add(repo_id, item)

    async def _prepare(self, item: _Item) -> str | None:
        """Download and map one build; the Logilica repo id, or None if it is not finished."""
        build = item.build = await resolve_indirect(self._gcs, item.build)
        spec = item.job.spec
        base = f"{build.path}/"
        # finished.json first: a running build then costs one request, not two. Throughput is
        # the same as fetching both at once, since the GCS gate bounds requests, not builds.
        finished = await self._gcs.read_json(build.bucket, base + "finished.json")
        if finished is None:
            # Deck showed a result but finished.json is not there (yet): treat as running.
            item.job.stats.running += 1
            item.job.stats.attempted -= 1
            self.reporter.build_done(
                item.job.stats, build.id, f"running job={spec.name} build={build.id}", True
            )
            return None
        if not isinstance(finished, dict):
            raise BuildError("finished.json is not a JSON object")
        started = await self._gcs.read_json(build.bucket, base + "started.json")
        if not isinstance(started, dict):
            raise BuildError("started.json is missing or not a JSON object")
        prowjob = None
        if needs_prowjob(spec, build, finished):
            prowjob = await self._gcs.read_json(build.bucket, base + "prowjob.json")
            prowjob = prowjob if isinstance(prowjob, dict) else None
        item.record = to_record(
            spec,
            build,
            Artifacts(started=started, finished=finished, prowjob=prowjob),
            deck_base=spec.url.base,
            triggered_by=self.config.triggered_by,
            origin=self.config.logilica.origin,
        )
        if self.options.dry_run:
            return item.record.repo
        repo_id = (await self._repo_ids()).get(item.record.repo.lower())
        if repo_id is None:
            raise BuildError(f"repository {item.record.repo} is not known to Logilica")
        return repo_id

    async def _repo_ids(self) -> dict[str, str]:
        """Logilica's repository map, one GET per run; a failure fails every build that
        needs it with the same message, and is not retried for each of them."""
        assert self._logilica is not None
        async with self._repos_lock:
            if self._repos is None:
                if self._repos_error is None:
                    try:
                        self._repos = await self._logilica.repositories()
                    except CrawlerError as exc:
                        self._repos_error = RemoteError(f"cannot list Logilica repositories: {exc}")
                if self._repos_error is not None:
                    raise self._repos_error
            assert self._repos is not None
            return self._repos

    def _dry_run_line(self, item: _Item) -> None:
        assert item.record is not None
        b = item.record.build
        item.job.stats.uploaded += 1
        line = (
            f"would-upload job={item.job.spec.name} build={item.build.id} "
            f"conclusion={b['conclusion']} repo={item.record.repo} commit={b['commit']} "
            f"started={b['startedAt']} completed={b['completedAt']}"
        )
        if self.options.verbose:
            line += "\n" + json.dumps(b, indent=2, sort_keys=True)
        self.reporter.would_upload(item.job.stats, line)

    async def _build_failed(self, item: _Item, reason: str, *, permanent: bool) -> None:
        item.job.stats.failed += 1
        if permanent and not self.options.dry_run:
            entry = item.job.failures.record(item.build.id, reason)
            reason += f" (failed for good, attempt {entry.attempts}/{MAX_FAILED_ATTEMPTS})"
            if entry.attempts >= MAX_FAILED_ATTEMPTS and item.job.frontier is not None:
                item.job.frontier.settle(item.build.key)
        item.job.stats.errors.append(f"build {item.build.id}: {reason}")
        self.reporter.build_done(
            item.job.stats,
            item.build.id,
            f"failed job={item.job.spec.name} build={item.build.id}: {reason}",
            False,
        )
        await self._item_done(item)

    # -- upload -------------------------------------------------------------------------

    async def _upload_worker(self, batcher: _Batcher) -> None:
        while (batch := await batcher.get()) is not None:
            await self._upload(batch)

    async def _upload(self, batch: _Batch) -> None:
        assert self._logilica is not None
        builds = [i.record.build for i in batch.items if i.record is not None]
        try:
            await self._logilica.create_builds(batch.repo_id, builds)
        except RemoteError as exc:
            if exc.permanent and len(batch.items) > 1:
                # One bad build must not sink its batch-mates: retry them one by one.
                for item in batch.items:
                    await self._upload(_Batch(batch.repo_id, [item]))
                return
            for item in batch.items:
                await self._build_failed(item, str(exc), permanent=exc.permanent)
            return
        await self._confirmed(batch.items)

    async def _confirmed(self, items: list[_Item]) -> None:
        """Logilica answered 2xx: record the builds in their trackers at once."""
        by_job: dict[str, list[_Item]] = {}
        for item in items:
            by_job.setdefault(item.job.spec.name, []).append(item)
        for group in by_job.values():
            job = group[0].job
            try:
                await job.tracker.append([i.build.id for i in group])
            except OSError as exc:
                for item in group:
                    reason = f"uploaded but not recorded in tracker: {exc}"
                    await self._build_failed(item, reason, permanent=False)
                continue
            for item in group:
                job.failures.clear(item.build.id)
                if job.frontier is not None:
                    job.frontier.settle(item.build.key)
                job.stats.uploaded += 1
                self.reporter.build_done(
                    job.stats,
                    item.build.id,
                    f"uploaded job={job.spec.name} build={item.build.id}",
                    True,
                )
                await self._item_done(item)


class _Batcher:
    """Groups builds of one Logilica repository into POSTs of up to `size` builds.

    Uploaders pull: a free uploader takes the fullest batch that is full or has waited
    `linger` seconds. While every uploader is busy (the usual case under a rate limit),
    batches keep filling instead of leaving half empty on a timer. `add` blocks beyond
    `capacity` builds, which slows the downloads down instead of piling builds up.
    """

    def __init__(self, size: int, linger: float, *, capacity: int) -> None:
        self._size = size
        self._linger = linger
        self._capacity = max(capacity, size)
        self._open: dict[str, _Batch] = {}
        self._count = 0
        self._closed = False
        self._changed = asyncio.Condition()

    async def add(self, repo_id: str, item: _Item) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._count < self._capacity)
            self._open.setdefault(repo_id, _Batch(repo_id)).items.append(item)
            self._count += 1
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
                oldest = min((b.opened for b in self._open.values()), default=None)
                timeout = None if oldest is None else oldest + self._linger - time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout)

    def _take(self) -> _Batch | None:
        now = time.monotonic()
        ready = [
            b
            for b in self._open.values()
            if self._closed or len(b.items) >= self._size or now - b.opened >= self._linger
        ]
        if not ready:
            return None
        batch = max(ready, key=lambda b: len(b.items))
        taken, rest = batch.items[: self._size], batch.items[self._size :]
        if rest:
            batch.items = rest  # keeps its age: those builds have waited as long
        else:
            del self._open[batch.repo_id]
        self._count -= len(taken)
        return _Batch(batch.repo_id, taken, batch.opened)

    async def close(self) -> None:
        """No more builds: everything open is sent at once, then get() returns None."""
        async with self._changed:
            self._closed = True
            self._changed.notify_all()
