"""Measurement: the sandbox and crawler subprocesses, and the figures derived from them.

The sandbox (`python -m crawler.sandbox`) runs in its own process, so the crawler's CPU time
and memory are measured apart from the servers'. Each measured command is one subprocess;
its wall time, CPU seconds and peak RSS come from os.wait4() on exactly that process.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from crawler.core.jobs import Limits

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BUILDS_PER_PAGE = 20  # deck's job-history page size
# The crawler's defaults (jobs.yaml `limits:`), for the theoretical bound.
DEFAULT_LIMITS: dict[str, float] = {k: v for k, v in asdict(Limits()).items() if k != "timeout"}


@dataclass
class Shape:
    jobs: int
    builds: int  # per job
    presubmit_share: float = 0.25
    latency: float = 0.05
    record_arrivals: bool = False
    new_per_signal: int = 0  # finished builds the sandbox adds to every job on SIGUSR2

    @property
    def total(self) -> int:
        return self.jobs * self.builds


# -- subprocesses ------------------------------------------------------------------------------


class SandboxProcess:
    """`python -m crawler.sandbox` in its own process; stats via SIGUSR1 / SIGTERM."""

    def __init__(self, shape: Shape, start_timeout: float = 300.0) -> None:
        self.shape = shape
        cmd = [
            PY, "-m", "crawler.sandbox",
            "--jobs", str(shape.jobs),
            "--builds", str(shape.builds),
            "--presubmit-share", str(shape.presubmit_share),
            "--latency", str(shape.latency),
        ]  # fmt: skip
        if shape.record_arrivals:
            cmd.append("--record-arrivals")
        if shape.new_per_signal:
            cmd += ["--new-per-signal", str(shape.new_per_signal)]
        self._lines: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        try:
            kind, ready = self._next(start_timeout)
        except BaseException:
            self.kill()
            raise
        if kind != "SANDBOX_READY":
            self.kill()
            raise RuntimeError(f"sandbox: expected SANDBOX_READY, got {kind}")
        self.ready_seconds = time.perf_counter() - t0
        self.env: dict[str, str] = ready["env"]
        self.jobs_yaml: str = ready["jobs_yaml"]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            for kind in ("SANDBOX_READY", "SANDBOX_STATS", "SANDBOX_ADDED"):
                if line.startswith(kind + " "):
                    self._lines.put((kind, json.loads(line[len(kind) + 1 :])))
        self._lines.put(("EOF", {}))

    def _next(self, timeout: float) -> tuple[str, dict[str, Any]]:
        try:
            kind, doc = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"sandbox gave no answer within {timeout:.0f} s") from None
        if kind == "EOF":
            raise RuntimeError(f"sandbox exited (status {self.proc.wait(5)})")
        return kind, doc

    def job_urls(self) -> list[str]:
        doc = yaml.safe_load(Path(self.jobs_yaml).read_text())
        return [j if isinstance(j, str) else j["url"] for j in doc["jobs"]]

    def stats(self, timeout: float = 60.0) -> dict[str, Any]:
        """Request counts so far (the sandbox keeps serving)."""
        self.proc.send_signal(signal.SIGUSR1)
        return self._next(timeout)[1]

    def add_builds(self, timeout: float = 300.0) -> dict[str, Any]:
        """New finished builds for every job (the sandbox's --new-per-signal), as a cron
        would find them an hour later."""
        self.proc.send_signal(signal.SIGUSR2)
        return self._next(timeout)[1]

    def stop(self, timeout: float = 60.0) -> dict[str, Any]:
        """Final stats (with `arrivals` under --record-arrivals); the process is gone after."""
        try:
            self.proc.send_signal(signal.SIGTERM)
            return self._next(timeout)[1]
        finally:
            self.kill()

    def kill(self) -> None:
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.kill()


def measured(cmd: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run cmd; wall time, CPU seconds and peak RSS of exactly that process (os.wait4).

    `started_monotonic` / `ended_monotonic` bracket the process in time.monotonic(), the
    system-wide clock the sandbox stamps request arrivals with.
    """
    out: list[str] = []
    err: list[str] = []
    started_monotonic = time.monotonic()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    readers = [
        threading.Thread(target=lambda s, b: b.extend(s), args=(proc.stdout, out), daemon=True),
        threading.Thread(target=lambda s, b: b.extend(s), args=(proc.stderr, err), daemon=True),
    ]
    for r in readers:
        r.start()
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        killer.cancel()
    wall = time.perf_counter() - t0
    ended_monotonic = time.monotonic()
    proc.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join(10)
    # ru_maxrss survives execve, so it can report the parent's size: prefer the crawler's own
    # VmHWM from its --json summary when there is one.
    peak = usage.ru_maxrss / 1024  # Linux: KiB
    try:
        own = json.loads("".join(out)).get("peak_rss_mb")
        peak = float(own) if own is not None else peak
    except (ValueError, AttributeError, TypeError):
        pass
    return {
        "exit_code": proc.returncode,
        "timed_out": proc.returncode == -signal.SIGKILL,
        "wall_s": wall,
        "cpu_user_s": usage.ru_utime,
        "cpu_sys_s": usage.ru_stime,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": peak,
        "started_monotonic": started_monotonic,
        "ended_monotonic": ended_monotonic,
        "stdout": "".join(out),
        "stderr": "".join(err),
    }


def run_crawler(
    sandbox: SandboxProcess,
    tracker_dir: Path,
    limits: dict[str, float],
    discovery: str | None,
    timeout: float,
    prefix: list[str] | None = None,
    limit: int | None = 0,
    suffix: list[str] | None = None,
) -> dict[str, Any]:
    """`prow-crawler run --limit 0 --json` against the sandbox; measurements + its summary.

    `limit` is the --limit flag (None: no flag, the crawler's default); `discovery` None
    means no --discovery flag; limit flags are passed only where they differ from the
    crawler's defaults.
    """
    cmd = [*(prefix or [PY]), "-m", "crawler", "run", "--jobs", sandbox.jobs_yaml]
    cmd += ["--tracker-dir", str(tracker_dir)]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    cmd += ["--json"]
    for key, value in limits.items():
        if DEFAULT_LIMITS.get(key) != value:
            cmd += [f"--{key.replace('_', '-')}", str(value)]
    if discovery is not None:
        cmd += ["--discovery", discovery]
    cmd += suffix or []
    env = {**os.environ, **sandbox.env}
    before = sandbox.stats()
    res = measured(cmd, env, timeout)
    after = sandbox.stats()
    res["server"] = stats_delta(before, after)
    res["command"] = " ".join(cmd[cmd.index("-m") :])
    try:
        res["summary"] = json.loads(res["stdout"])
    except json.JSONDecodeError:
        res["summary"] = None
    if res["summary"] is None or res["exit_code"] != 0:
        tail = res["stderr"].strip().splitlines()[-5:]
        print(f"  ! crawler exit {res['exit_code']}: " + " | ".join(tail), file=sys.stderr)
    del res["stdout"]
    res["stderr_tail"] = res.pop("stderr").strip().splitlines()[-6:]
    return res


def stats_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("deck_requests", "gcs_requests", "feed_requests"):
        b, a = before.get(key, {}), after.get(key, {})
        out[key] = {k: a.get(k, 0) - b.get(k, 0) for k in a if a.get(k, 0) - b.get(k, 0)}
    for key in ("logilica_posts", "builds_received", "distinct_builds_received"):
        out[key] = after.get(key, 0) - before.get(key, 0)
    return out


# -- start-up ----------------------------------------------------------------------------------


def startup_cpu(timeout: float) -> dict[str, float]:
    """CPU seconds and peak RSS of an interpreter that only imports the crawler."""
    res = measured(
        [PY, "-c", "import crawler.cli.app, crawler.pipeline"], dict(os.environ), timeout
    )
    return {"cpu_s": round(res["cpu_s"], 3), "peak_rss_mb": round(res["peak_rss_mb"], 1)}


def whole_process_walls(
    cmd: list[str], env: dict[str, str], timeout: float, repeat: int
) -> dict[str, Any]:
    """Wall time of the whole process (interpreter start-up included), `repeat` times."""
    walls: list[float] = []
    exit_codes: list[int] = []
    for _ in range(repeat):
        res = measured(cmd, env, timeout)
        walls.append(round(res["wall_s"], 4))
        exit_codes.append(res["exit_code"])
    return {
        "command": " ".join(cmd[cmd.index("-m") :]),
        **spread(walls),
        "walls_s": walls,
        "exit_codes": exit_codes,
    }


def first_request_s(
    arrivals: list[tuple[float, str, str]], started: float, ended: float
) -> float | None:
    """Seconds from process start to the first request the sandbox saw within [started, ended]
    (all three on time.monotonic()); None if the process made none."""
    within = [a[0] for a in arrivals if started <= a[0] <= ended]
    return round(min(within) - started, 4) if within else None


def phases(
    arrivals: list[tuple[float, str, str]], started: float, ended: float
) -> dict[str, dict[str, float | int]]:
    """Per service, when its first and last request of one run arrived (seconds after the
    process started) and how many came: where a small run's wall time goes."""
    out: dict[str, dict[str, float | int]] = {}
    for when, service, _method in arrivals:
        if started <= when <= ended:
            at = round(when - started, 4)
            seen = out.setdefault(service, {"first_s": at, "last_s": at, "requests": 0})
            seen["first_s"] = min(seen["first_s"], at)
            seen["last_s"] = max(seen["last_s"], at)
            seen["requests"] += 1
    return out


def small_run_bound(jobs: int, limits: dict[str, float], latency: float, start_s: float) -> float:
    """The least wall time the limits allow an hourly run that reads each job's newest deck
    page (every run does) and then lists, reads and uploads its new builds.

    Deck takes floor(deck_rps) pages in any 1 s (sliding window, each page counting until 1 s
    after its answer), so the last job's page cannot start before (ceil(jobs / floor(rps)) - 1)
    windows of (1 s + latency) have passed; after its page, that job still needs a listing,
    finished.json, then started.json and the step graph together, and one POST: four round
    trips. `start_s` is the process's start-up to its first request.
    """
    per_window = max(1, math.floor(limits["deck_rps"]))
    windows = math.ceil(jobs / per_window) - 1
    return round(start_s + windows * (1.0 + latency) + latency + 4 * latency, 3)


def cron_bound(limits: dict[str, float], latency: float, downloads: int, posts: int) -> float:
    """The least wall time the limits allow a cron run that reads deck's feed (one request)
    and then `downloads` GCS objects and `posts` POSTs: the feed, then the larger of the GCS
    reads (gcs_concurrency at a time, one round trip each) and the POSTs at logilica_rps, plus
    the one GET /repositories before the first POST."""
    gcs = math.ceil(downloads / limits["gcs_concurrency"]) * latency
    logilica = (posts / limits["logilica_rps"] + latency) if posts else 0.0
    return round(latency + max(gcs, logilica), 3)


def spread(values: list[float]) -> dict[str, float | None]:
    """Median, min and max (None for an empty list)."""
    if not values:
        return {"median_s": None, "min_s": None, "max_s": None}
    return {
        "median_s": round(statistics.median(values), 4),
        "min_s": round(min(values), 4),
        "max_s": round(max(values), 4),
    }


# -- figures -----------------------------------------------------------------------------------


def theoretical_bound(
    limits: dict[str, float], latency: float, gets_per_build: float, discovery: str
) -> dict[str, Any]:
    """Builds/s each stage allows under the configured limits; `builds_per_s` is the min."""
    lat = latency if latency > 0 else 1e-9
    stages: dict[str, Any] = {}
    if discovery != "gcs":
        pages = min(limits["deck_rps"], limits["deck_concurrency"] / lat)
        stages["deck"] = pages * BUILDS_PER_PAGE
    stages["gcs"] = limits["gcs_concurrency"] / lat / max(gets_per_build, 1.0)
    posts = min(limits["logilica_rps"], limits["logilica_concurrency"] / lat)
    stages["logilica"] = posts * limits["batch_size"]
    stages = {k: round(v, 1) for k, v in stages.items()}
    stages["builds_per_s"] = min(stages.values())
    stages["limited_by"] = min((v, k) for k, v in stages.items() if k != "builds_per_s")[1]
    return stages


def crawl_figures(
    run: dict[str, Any], shape: Shape, limits: dict[str, float], discovery: str
) -> dict[str, Any]:
    """The derived figures of one crawler run."""
    summary = run.get("summary") or {}
    totals = summary.get("totals", {})
    server = run["server"]
    # No summary (the crawler crashed): count what Logilica received instead, and say so.
    uploaded = totals["uploaded"] if summary else server["builds_received"]
    wall = run["wall_s"]
    # Every GCS request counts against gcs_concurrency: media GETs, metadata, bucket listings.
    gcs_total = sum(server["gcs_requests"].values())
    gets_per_build = gcs_total / uploaded if uploaded else 2.0
    requests = summary.get("requests", {})
    # The deck stage bounds the run only if a job walked deck: every run reads each job's
    # newest page, but a listed job reads no more (the crawler's summary says which).
    jobs = summary.get("jobs") or []
    if jobs and all("discovery" in j for j in jobs):
        used_deck = any(j["discovery"] == "deck" for j in jobs)
    else:
        used_deck = sum(server["deck_requests"].values()) > shape.jobs
    bound = theoretical_bound(limits, shape.latency, gets_per_build, "deck" if used_deck else "gcs")
    builds_per_s = uploaded / wall if wall else 0.0
    return {
        "discovery": discovery,
        "builds_in_shape": shape.total,
        "uploaded": uploaded,
        "failed": totals.get("failed", 0),
        "exit_code": run["exit_code"],
        "uploaded_counted_by": "crawler" if summary else "sandbox (crawler gave no summary)",
        "crash": None if summary else run["stderr_tail"],
        "wall_s": round(wall, 3),
        "pipeline_s": summary.get("seconds"),
        "cpu_s": round(run["cpu_s"], 3),
        "cpu_ms_per_build": round(1000 * run["cpu_s"] / uploaded, 3) if uploaded else None,
        "peak_rss_mb": round(run["peak_rss_mb"], 1),
        "builds_per_s": round(builds_per_s, 1),
        "client_requests": requests,
        "client_requests_per_s": {k: round(v / wall, 1) for k, v in requests.items()},
        "server_requests": {
            "deck": sum(server["deck_requests"].values()),
            "gcs": server["gcs_requests"],
            "logilica_posts": server["logilica_posts"],
            "builds_received": server["builds_received"],
        },
        "gcs_requests_per_build": round(gets_per_build, 3),
        # Below batch_size when the linger timer sends partly filled batches.
        "builds_per_post": round(server["builds_received"] / server["logilica_posts"], 1)
        if server["logilica_posts"]
        else None,
        "bound": bound,
        "efficiency": round(builds_per_s / bound["builds_per_s"], 3),
        "limits": limits,
        "command": run["command"],
    }


def window_stats(times: list[float], rate: float) -> dict[str, Any]:
    """Achieved rate, and the most requests in any half-open 1 s window.

    The limiter is a sliding window (an idle host takes R at once, then R per second), so
    the achieved rate is requests over the span plus one window: k bursts of R requests
    1 s apart read as R/s, as do requests evenly spaced 1/R apart.
    """
    times = sorted(times)
    n = len(times)
    if n < 2:
        return {"requests": n, "limit_rps": rate}
    span = times[-1] - times[0]
    j = best = 0
    for i in range(n):  # window [times[i], times[i] + 1)
        j = max(j, i)
        while j < n and times[j] < times[i] + 1.0:
            j += 1
        best = max(best, j - i)
    achieved = n / (span + 1.0)
    # A whole number of requests per 1 s: 2.5/s allows 2 in any second (one below 1/s).
    allowed = max(1, math.floor(rate))
    return {
        "requests": n,
        "span_s": round(span, 3),
        "limit_rps": rate,
        "achieved_rps": round(achieved, 3),
        "achieved_share": round(achieved / rate, 3),
        "max_in_1s_window": best,
        "allowed_in_1s_window": allowed,
        "never_above_limit": best <= allowed,
        "min_gap_ms": round(1000 * min(b - a for a, b in itertools.pairwise(times)), 1),
    }
