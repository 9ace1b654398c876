"""`Sandbox`: fake deck, GCS (real emulator behind a proxy) and Logilica on 127.0.0.1,
driven through a synchronous API so sync tests and the CLI can use it.

The three aiohttp apps share one background thread and event loop; the emulator runs its own
thread. Changes to the world (`finish_build`, `add_builds`) run on the services' loop, so a
deck page never shows a build whose files are not yet in GCS.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import yaml
from aiohttp import web

from .counter import RequestCounter
from .deck import make_deck_app
from .faults import Faults
from .feed import FeedSettings
from .gcs import GcsEmulator, make_gcs_proxy_app
from .logilica import API_PREFIX, Recorder, make_logilica_app
from .records import SandboxBuild
from .world import World
from .worldgen import default_world

T = TypeVar("T")
_CALL_TIMEOUT = 60.0


class _IndentedDumper(yaml.SafeDumper):
    """Indents list items under their key (`jobs:` / `  - url: ...`), as people write it."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


class _ServiceLoop(threading.Thread):
    """Serves aiohttp apps on 127.0.0.1 free ports from one thread's event loop."""

    def __init__(self, apps: dict[str, web.Application]) -> None:
        super().__init__(name="sandbox-services", daemon=True)
        self._apps = apps
        self.urls: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        runners: list[web.AppRunner] = []
        try:
            for name, app in self._apps.items():
                runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
                await runner.setup()
                runners.append(runner)
                await web.TCPSite(runner, "127.0.0.1", 0).start()
                host, port = runner.addresses[0][:2]
                self.urls[name] = f"http://{host}:{port}"
            self._ready.set()
            await self._stopping.wait()
        except Exception as err:  # reported to the starting thread by start_serving()
            self._error = err
        finally:
            for runner in reversed(runners):
                await runner.cleanup()
            self._ready.set()

    def start_serving(self) -> None:
        self.start()
        self._ready.wait()
        if self._error is not None:
            self.join()
            raise RuntimeError("sandbox services failed to start") from self._error

    def call(self, fn: Callable[[], T]) -> T:
        """Run fn on the loop's thread, between requests, and return its result."""
        if threading.current_thread() is self:
            return fn()
        assert self._loop is not None

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(_CALL_TIMEOUT)

    def stop(self) -> None:
        if self._loop is not None and self.is_alive():
            assert self._stopping is not None
            self._loop.call_soon_threadsafe(self._stopping.set)
        self.join()


class Sandbox:
    """Fake deck + GCS + Logilica serving one World. Use as a context manager."""

    def __init__(
        self,
        world: World | None = None,
        token: str | None = None,
        domain: str = "sandbox",
        faults: Faults | None = None,
    ) -> None:
        self.world = world if world is not None else default_world()
        self.token = token or f"sandbox-token-{secrets.token_hex(8)}"
        self.domain = domain
        self.faults = faults if faults is not None else Faults()
        self.recorder = Recorder()
        self.deck_requests = RequestCounter()  # job-history pages only
        self.feed_requests = RequestCounter()  # /prowjobs.js, counted as "feed"
        self.feed = FeedSettings()
        self.gcs_requests = RequestCounter()
        self.deck_url = ""
        self.gcs_url = ""
        self.emulator_url = ""
        self.logilica_url = ""
        self.timings: dict[str, float] = {}  # seconds: "seed" (GCS objects), "start" (all)
        self.seeded_objects = 0
        self._gcs: GcsEmulator | None = None
        self._services: _ServiceLoop | None = None
        self._shape_world()

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self._services is not None:
            raise RuntimeError("sandbox already started")
        t0 = time.perf_counter()
        self._gcs = GcsEmulator()
        self.seeded_objects = self._gcs.seed_world(self.world)
        self.timings["seed"] = time.perf_counter() - t0
        try:
            self.emulator_url = self._gcs.start()
            self._services = _ServiceLoop(self._make_apps())
            self._services.start_serving()
        except BaseException:
            self.stop()
            raise
        urls = self._services.urls
        self.deck_url, self.gcs_url = urls["deck"], urls["gcs"]
        self.logilica_url = urls["logilica"] + API_PREFIX
        self.timings["start"] = time.perf_counter() - t0
        return self

    def _shape_world(self) -> None:
        """Faults that are facts about the world (where builds live, which files exist)."""
        try:
            for name in sorted(self.faults.moved_jobs):
                self.world.move_newer_builds(name)
            for name in sorted(self.faults.no_prowjob_jobs):
                self.world.drop_prowjobs(name)
        except KeyError as exc:
            raise ValueError(f"faults name a job the sandbox does not have: {exc}") from None

    def _make_apps(self) -> dict[str, web.Application]:
        assert self._gcs is not None
        return {
            "deck": make_deck_app(
                self.world, self.faults, self.deck_requests, self.feed_requests, self.feed
            ),
            "gcs": make_gcs_proxy_app(
                self.emulator_url, self.faults, self._gcs.content_encoding, self.gcs_requests
            ),
            "logilica": make_logilica_app(
                self.world, self.token, self.domain, self.faults, self.recorder
            ),
        }

    def stop(self) -> None:
        """Stop every server and join their threads; safe to call twice."""
        if self._services is not None:
            self._services.stop()
            self._services = None
        if self._gcs is not None:
            self._gcs.stop()
            self._gcs = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what the crawler needs ------------------------------------------------------------

    def job_urls(self) -> dict[str, str]:
        """Job name -> job-history URL on the fake deck."""
        self._require_started()
        return {j.name: self.deck_url + j.history_path() for j in self.world.jobs}

    def env(self) -> dict[str, str]:
        """Environment variables pointing the crawler at this sandbox."""
        self._require_started()
        return {
            "LOGILICA_TOKEN": self.token,
            "LOGILICA_API_URL": self.logilica_url,
            "LOGILICA_DOMAIN": self.domain,
            "STORAGE_EMULATOR_HOST": self.gcs_url,
        }

    def write_jobs_yaml(
        self, path: str | Path, jobs: list[str] | None = None, extra: dict | None = None
    ) -> Path:
        """Write a jobs.yaml listing `jobs` (default: all); `extra` keys merge in at the top
        level (dicts are merged one level deep). A directory gets a jobs.yaml inside."""
        urls = self.job_urls()
        names = list(urls) if jobs is None else jobs
        unknown = [n for n in names if n not in urls]
        if unknown:
            raise KeyError(f"no such jobs in the sandbox: {unknown}")
        doc: dict = {"logilica": {"domain": self.domain}, "jobs": [{"url": urls[n]} for n in names]}
        for key, value in (extra or {}).items():
            if isinstance(value, dict) and isinstance(doc.get(key), dict):
                doc[key] = {**doc[key], **value}
            else:
                doc[key] = value
        target = Path(path)
        if target.is_dir():
            target = target / "jobs.yaml"
        text = yaml.dump(doc, Dumper=_IndentedDumper, sort_keys=False, allow_unicode=True)
        target.write_text(text)
        return target

    # --- changing the world while it runs --------------------------------------------------

    def finish_build(
        self, job: str, build_id: str, result: str = "SUCCESS", at: int | None = None
    ) -> SandboxBuild:
        """Finish a running build: the next crawl sees it finished, finished.json included."""

        def finish() -> SandboxBuild:
            build = self.world.finish_build(job, build_id, result, at)
            if self._gcs is not None:
                self._gcs.seed_build(build)
            return build

        return self._in_loop(finish)

    def add_builds(self, job: str, n: int, running: bool = False) -> list[SandboxBuild]:
        """Add n builds newer than all others to `job`, uploaded like the real ones."""

        def add() -> list[SandboxBuild]:
            builds = self.world.add_builds(job, n, running=running)
            if self._gcs is not None:
                for build in builds:
                    self._gcs.seed_build(build)
                self._gcs.seed_job_index(self.world.job(job))
            return builds

        return self._in_loop(add)

    def _in_loop(self, fn: Callable[[], T]) -> T:
        return self._services.call(fn) if self._services is not None else fn()

    def _require_started(self) -> None:
        if not self.deck_url:
            raise RuntimeError("start the sandbox first")


# --- python -m crawler.sandbox ----------------------------------------------------------------
