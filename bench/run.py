"""Benchmark harness: the real `prow-crawler run` against the sandbox in its own process.

    .venv/bin/python -m bench.run all            # every scenario (~5 min on 2 cores)
    .venv/bin/python -m bench.run backfill cron  # some of them
    .venv/bin/python -m bench.run backfill --jobs 2 --builds 10 --latency 0   # tiny

Every scenario starts `python -m crawler.sandbox` as a separate process (loopback only), so
the crawler's CPU time and memory are measured apart from the servers'. The crawler runs as a
subprocess too; its CPU seconds and peak RSS come from os.wait4() on exactly that process.
Results: a table per scenario on stdout, JSON in bench/out/SCENARIO.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.baseline import run_baseline
from crawler.config import Limits

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BUILDS_PER_PAGE = 20  # deck's job-history page size
# The crawler's defaults (jobs.yaml `limits:`), for the theoretical bound.
DEFAULT_LIMITS = {k: v for k, v in asdict(Limits()).items() if k != "timeout"}
FAST = {"deck_rps": 1000.0, "logilica_rps": 1000.0}  # "no rate limit" for CPU/memory runs
SCENARIOS = ("backfill", "ratelimit", "cpu", "memory", "cron")


@dataclass
class Shape:
    jobs: int
    builds: int  # per job
    presubmit_share: float = 0.25
    latency: float = 0.05
    record_arrivals: bool = False

    @property
    def total(self) -> int:
        return self.jobs * self.builds


# -- subprocesses ------------------------------------------------------------------------------


class Sandbox:
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
        self._lines: queue.Queue[tuple[str, dict]] = queue.Queue()
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
        self.jobs_yaml = ready["jobs_yaml"]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            for kind in ("SANDBOX_READY", "SANDBOX_STATS"):
                if line.startswith(kind + " "):
                    self._lines.put((kind, json.loads(line[len(kind) + 1 :])))
        self._lines.put(("EOF", {}))

    def _next(self, timeout: float) -> tuple[str, dict]:
        try:
            kind, doc = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"sandbox gave no answer within {timeout:.0f} s") from None
        if kind == "EOF":
            raise RuntimeError(f"sandbox exited (status {self.proc.wait(5)})")
        return kind, doc

    def stats(self, timeout: float = 60.0) -> dict:
        """Request counts so far (the sandbox keeps serving)."""
        self.proc.send_signal(signal.SIGUSR1)
        return self._next(timeout)[1]

    def stop(self, timeout: float = 60.0) -> dict:
        """Final stats; the process is gone afterwards."""
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

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.kill()


def measured(cmd: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run cmd; wall time, CPU seconds and peak RSS of exactly that process (os.wait4)."""
    out: list[str] = []
    err: list[str] = []
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
        "stdout": "".join(out),
        "stderr": "".join(err),
    }


_DISCOVERY_SUPPORTED: bool | None = None


def discovery_supported() -> bool:
    global _DISCOVERY_SUPPORTED
    if _DISCOVERY_SUPPORTED is None:
        res = subprocess.run(
            [PY, "-m", "crawler", "run", "--help"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "200"},
        )
        _DISCOVERY_SUPPORTED = "--discovery" in res.stdout
    return _DISCOVERY_SUPPORTED


def run_crawler(
    sandbox: Sandbox,
    tracker_dir: Path,
    limits: dict[str, float],
    discovery: str | None,
    timeout: float,
    prefix: list[str] | None = None,
) -> dict[str, Any]:
    """`prow-crawler run --limit 0 --json` against the sandbox; measurements + its summary."""
    cmd = [*(prefix or [PY]), "-m", "crawler", "run", "--jobs", sandbox.jobs_yaml]
    cmd += ["--tracker-dir", str(tracker_dir), "--limit", "0", "--json"]
    for key, value in limits.items():
        if DEFAULT_LIMITS.get(key) != value:
            cmd += [f"--{key.replace('_', '-')}", str(value)]
    if discovery is not None:
        cmd += ["--discovery", discovery]
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


def stats_delta(before: dict, after: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("deck_requests", "gcs_requests"):
        b, a = before.get(key, {}), after.get(key, {})
        out[key] = {k: a.get(k, 0) - b.get(k, 0) for k in a if a.get(k, 0) - b.get(k, 0)}
    for key in ("logilica_posts", "builds_received", "distinct_builds_received"):
        out[key] = after.get(key, 0) - before.get(key, 0)
    return out


# -- figures -----------------------------------------------------------------------------------


def theoretical_bound(
    limits: dict[str, float], latency: float, gets_per_build: float, discovery: str
) -> dict[str, float]:
    """Builds/s each stage allows under the configured limits; `builds_per_s` is the min."""
    lat = latency if latency > 0 else 1e-9
    stages: dict[str, float] = {}
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


def crawl_figures(run: dict[str, Any], shape: Shape, limits: dict, discovery: str) -> dict:
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
    """Achieved rate over the span, and the most requests in any half-open 1 s window."""
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
    achieved = (n - 1) / span if span > 0 else float("inf")
    return {
        "requests": n,
        "span_s": round(span, 3),
        "limit_rps": rate,
        "achieved_rps": round(achieved, 3),
        "achieved_share": round(achieved / rate, 3),
        "max_in_1s_window": best,
        "never_above_limit": best <= math.ceil(rate),
        "min_gap_ms": round(1000 * min(b - a for a, b in itertools.pairwise(times)), 1),
    }


# -- scenarios ---------------------------------------------------------------------------------


def _shape(args: argparse.Namespace, **defaults: Any) -> Shape:
    shape = Shape(**defaults)
    for key in ("jobs", "builds", "presubmit_share", "latency"):
        value = getattr(args, key)
        if value is not None:
            setattr(shape, key, value)
    return shape


def _limits(args: argparse.Namespace, **overrides: float) -> dict[str, float]:
    limits = {**DEFAULT_LIMITS, **overrides}
    for key in DEFAULT_LIMITS:
        value = getattr(args, key)
        if value is not None:
            limits[key] = value
    return limits


def _modes(args: argparse.Namespace) -> list[str]:
    """Discovery modes to measure; "default" runs without --discovery (the CLI's default)."""
    if not discovery_supported():
        if args.discovery not in ("all", "default", "deck"):
            raise SystemExit("this prow-crawler has no --discovery option")
        return ["default"]
    if args.discovery == "all":
        return ["default", "deck", "gcs"]
    return [args.discovery]


def _pass_discovery(mode: str) -> str | None:
    return None if mode == "default" or not discovery_supported() else mode


def scenario_backfill(args: argparse.Namespace, work: Path) -> dict:
    shape = _shape(args, jobs=20, builds=200)
    limits = _limits(args)
    out: dict[str, Any] = {"shape": asdict(shape), "runs": []}
    with Sandbox(shape) as sb:
        out["sandbox_ready_s"] = round(sb.ready_seconds, 2)
        before = sb.stats()
        base = run_baseline(_job_urls(sb), sb.env, args.baseline_sample)
        base["server"] = stats_delta(before, sb.stats())
        out["baseline"] = base
        for mode in _modes(args):
            run = run_crawler(
                sb, work / f"trackers-{mode}", limits, _pass_discovery(mode), args.run_timeout
            )
            fig = crawl_figures(run, shape, limits, mode)
            fig["speedup"] = (
                round(fig["builds_per_s"] / base["builds_per_s"], 1) if base["builds_per_s"] else 0
            )
            out["runs"].append(fig)
        sb.stop()
    rows = [
        (
            "baseline (sequential)",
            f"{base['builds']} (sample)" + (f", {base['failed']} failed" if base["failed"] else ""),
            base["seconds"],
            "-",
            base["builds_per_s"],
            "1.0",
            "-",
            "-",
            "-",
        )
    ]
    for f in out["runs"]:
        rows.append(
            (
                f"prow-crawler ({f['discovery']})",
                f"{f['uploaded']}/{f['builds_in_shape']}",
                f["wall_s"],
                f["cpu_s"],
                f["builds_per_s"],
                f["speedup"],
                f"{f['bound']['builds_per_s']} ({f['bound']['limited_by']})",
                f"{100 * f['efficiency']:.0f}%",
                f["exit_code"],
            )
        )
    _table(
        f"backfill: {shape.jobs} jobs x {shape.builds} builds, latency {shape.latency * 1000:g} ms",
        ("run", "builds", "wall s", "cpu s", "builds/s", "speed-up", "bound b/s", "eff.", "exit"),
        rows,
    )
    for f in out["runs"]:
        print(
            f"  {f['discovery']}: requests/s {f['client_requests_per_s']}; sandbox saw "
            f"{f['server_requests']}; {f['builds_per_post']} builds/POST; "
            f"peak RSS {f['peak_rss_mb']} MB"
        )
    return out


def _job_urls(sb: Sandbox) -> list[str]:
    import yaml

    doc = yaml.safe_load(Path(sb.jobs_yaml).read_text())
    return [j if isinstance(j, str) else j["url"] for j in doc["jobs"]]


def scenario_ratelimit(args: argparse.Namespace, work: Path) -> dict:
    shape = _shape(args, jobs=6, builds=30)
    shape.record_arrivals = True
    limits = _limits(
        args,
        logilica_rps=args.logilica_rps or 5.0,
        batch_size=args.batch_size or 1,
        deck_rps=args.deck_rps or 2.0,
    )
    with Sandbox(shape) as sb:
        started = time.monotonic()  # system-wide clock, as the sandbox's arrival times
        deck = "deck" if discovery_supported() else None  # deck pages are measured too
        run = run_crawler(sb, work / "trackers", limits, deck, args.run_timeout)
        final = sb.stop()
    arrivals = [a for a in final.get("arrivals", []) if a[0] >= started]
    posts = [t for t, service, method in arrivals if service == "logilica" and method == "POST"]
    deck = [t for t, service, _ in arrivals if service == "deck"]
    fig = crawl_figures(run, shape, limits, "deck")
    out = {
        "shape": asdict(shape),
        "run": fig,
        "logilica_posts": window_stats(posts, limits["logilica_rps"]),
        "deck_pages": window_stats(deck, limits["deck_rps"]),
    }
    rows = []
    for name, w in (("logilica POST", out["logilica_posts"]), ("deck GET", out["deck_pages"])):
        rows.append(
            (
                name,
                w["requests"],
                w["limit_rps"],
                w.get("achieved_rps", "-"),
                f"{100 * w.get('achieved_share', 0):.0f}%",
                w.get("max_in_1s_window", "-"),
                w.get("min_gap_ms", "-"),
                "yes" if w.get("never_above_limit") else "NO",
            )
        )
    _table(
        f"ratelimit: {shape.total} builds, batch {limits['batch_size']:g}, "
        f"latency {shape.latency * 1000:g} ms (server-side arrival times)",
        ("service", "requests", "limit/s", "achieved/s", "of limit", "max 1s", "min gap ms", "<=R"),
        rows,
    )
    return out


def _startup_cpu(timeout: float) -> dict[str, float]:
    res = measured([PY, "-c", "import crawler.cli, crawler.pipeline"], dict(os.environ), timeout)
    return {"cpu_s": round(res["cpu_s"], 3), "peak_rss_mb": round(res["peak_rss_mb"], 1)}


def scenario_cpu(args: argparse.Namespace, work: Path) -> dict:
    shape = _shape(args, jobs=20, builds=500, latency=0.0)
    limits = _limits(args, **FAST)
    startup = _startup_cpu(args.run_timeout)
    with Sandbox(shape) as sb:
        run = run_crawler(sb, work / "trackers", limits, None, args.run_timeout)
        fig = crawl_figures(run, shape, limits, "default")
        prof = None
        if args.profile:
            args.out.mkdir(parents=True, exist_ok=True)
            path = args.out / "cpu.prof"
            prefix = [PY, "-m", "cProfile", "-o", str(path)]
            run_crawler(sb, work / "trackers-prof", limits, None, args.run_timeout, prefix)
            prof = _top_functions(path)
        sb.stop()
    net = fig["cpu_s"] - startup["cpu_s"]
    fig["startup"] = startup
    n = fig["uploaded"]
    fig["cpu_ms_per_build_net"] = round(1000 * net / n, 3) if n else None
    out = {"shape": asdict(shape), "run": fig, "profile_top": prof}
    _table(
        f"cpu: {shape.total} builds, latency 0, rates unlimited",
        ("builds", "wall s", "cpu s", "ms/build", "ms/build excl. start", "start cpu s", "b/s"),
        [
            (
                f"{fig['uploaded']}/{fig['builds_in_shape']}",
                fig["wall_s"],
                fig["cpu_s"],
                fig["cpu_ms_per_build"],
                fig["cpu_ms_per_build_net"],
                startup["cpu_s"],
                fig["builds_per_s"],
            )
        ],
    )
    if prof:
        print("  top functions by own time (cProfile, bench/out/cpu.prof):")
        for row in prof[:15]:
            print(f"    {row['tottime_s']:7.3f} s  {row['calls']:>8}  {row['function']}")
    return out


def _top_functions(path: Path, n: int = 25) -> list[dict]:
    import pstats

    st = pstats.Stats(str(path))
    rows = []
    for (file, line, name), (_cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{_short(file)}:{line}({name})",
                "calls": nc,
                "tottime_s": round(tt, 3),
                "cumtime_s": round(ct, 3),
            }
        )
    rows.sort(key=lambda r: r["tottime_s"], reverse=True)
    return rows[:n]


def _short(file: str) -> str:
    for marker in ("site-packages/", "/lib/python3", str(ROOT) + "/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def scenario_memory(args: argparse.Namespace, work: Path) -> dict:
    small = _shape(args, jobs=10, builds=100, latency=0.0)
    limits = _limits(args, **FAST)
    out: dict[str, Any] = {"runs": []}
    for factor in (1, 10):
        shape = Shape(small.jobs, small.builds * factor, small.presubmit_share, small.latency)
        with Sandbox(shape) as sb:
            run = run_crawler(sb, work / f"trackers-{factor}", limits, None, args.run_timeout)
            sb.stop()
        fig = crawl_figures(run, shape, limits, "default")
        fig["shape"] = asdict(shape)
        out["runs"].append(fig)
    a, b = out["runs"]
    out["growth"] = round(b["peak_rss_mb"] / a["peak_rss_mb"] - 1, 3)
    _table(
        "memory: peak RSS of the crawler process (latency 0, rates unlimited)",
        ("builds", "uploaded", "peak RSS MB", "wall s", "growth"),
        [
            (a["builds_in_shape"], a["uploaded"], a["peak_rss_mb"], a["wall_s"], "-"),
            (
                b["builds_in_shape"],
                b["uploaded"],
                b["peak_rss_mb"],
                b["wall_s"],
                f"{100 * out['growth']:+.1f}%",
            ),
        ],
    )
    return out


def scenario_cron(args: argparse.Namespace, work: Path) -> dict:
    shape = _shape(args, jobs=100, builds=30)
    limits = _limits(args)
    fill_limits = {**limits, "deck_rps": 50.0, "logilica_rps": 50.0}
    out: dict[str, Any] = {"shape": asdict(shape), "runs": []}
    with Sandbox(shape) as sb:
        for mode in _modes(args):
            trackers = work / f"trackers-{mode}"
            fill = run_crawler(sb, trackers, fill_limits, _pass_discovery(mode), args.run_timeout)
            again = run_crawler(sb, trackers, limits, _pass_discovery(mode), args.run_timeout)
            server = again["server"]
            gcs = server["gcs_requests"]
            listing = sum(server["deck_requests"].values()) + gcs.get("other", 0)
            out["runs"].append(
                {
                    "discovery": mode,
                    "fill_uploaded": ((fill.get("summary") or {}).get("totals") or {}).get(
                        "uploaded"
                    ),
                    "wall_s": round(again["wall_s"], 3),
                    "cpu_s": round(again["cpu_s"], 3),
                    "exit_code": again["exit_code"],
                    "listing_requests": listing,
                    "listing_per_job": round(listing / shape.jobs, 2),
                    "downloads": gcs.get("media", 0),
                    "gcs_metadata": gcs.get("metadata", 0),
                    "uploads": server["logilica_posts"],
                    "client_requests": (again.get("summary") or {}).get("requests"),
                    "command": again["command"],
                }
            )
        sb.stop()
    _table(
        f"cron: {shape.jobs} jobs x {shape.builds} builds, all tracked; second run "
        f"(latency {shape.latency * 1000:g} ms, default limits)",
        (
            "discovery",
            "1st run uploaded",
            "listing/job",
            "downloads",
            "uploads",
            "wall s",
            "cpu s",
            "exit",
        ),
        [
            (
                r["discovery"],
                f"{r['fill_uploaded']}/{shape.total}",
                r["listing_per_job"],
                r["downloads"],
                r["uploads"],
                r["wall_s"],
                r["cpu_s"],
                r["exit_code"],
            )
            for r in out["runs"]
        ],
    )
    return out


def plot_gcs_concurrency(args: argparse.Namespace, work: Path) -> dict:
    """Throughput vs --gcs-concurrency with deck and Logilica limits lifted."""
    shape = _shape(args, jobs=10, builds=50)
    points = []
    with Sandbox(shape) as sb:
        for conc in (2, 4, 8, 16, 32, 64):
            limits = _limits(args, **FAST, gcs_concurrency=conc, logilica_concurrency=8)
            limits["gcs_concurrency"] = conc
            run = run_crawler(sb, work / f"trackers-c{conc}", limits, None, args.run_timeout)
            fig = crawl_figures(run, shape, limits, "default")
            points.append(
                {
                    "gcs_concurrency": conc,
                    "builds_per_s": fig["builds_per_s"],
                    "bound": fig["bound"]["builds_per_s"],
                }
            )
        sb.stop()
    out: dict[str, Any] = {"shape": asdict(shape), "points": points}
    _table(
        "throughput vs GCS concurrency (deck/Logilica rates lifted)",
        ("gcs conc.", "builds/s", "bound b/s"),
        [(p["gcs_concurrency"], p["builds_per_s"], p["bound"]) for p in points],
    )
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (matplotlib not installed: no PNG; pip install matplotlib)")
        return out
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [p["gcs_concurrency"] for p in points]
    ax.plot(xs, [p["builds_per_s"] for p in points], "o-", label="achieved")
    ax.plot(xs, [p["bound"] for p in points], "--", label="bound (concurrency / latency)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("--gcs-concurrency")
    ax.set_ylabel("builds/s")
    ax.set_title(f"{shape.total} builds, latency {shape.latency * 1000:g} ms")
    ax.legend()
    png = args.out / "gcs_concurrency.png"
    fig.savefig(png, dpi=100, bbox_inches="tight")
    out["png"] = str(png)
    print(f"  wrote {png}")
    return out


# -- output ------------------------------------------------------------------------------------


def _table(title: str, header: tuple, rows: list[tuple]) -> None:
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for k, row in enumerate(cells):
        line = (c.rjust(w) if k else c.ljust(w) for c, w in zip(row, widths, strict=True))
        print("  " + "  ".join(line))
        if k == 0:
            print("  " + "  ".join("-" * w for w in widths))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument(
        "scenarios", nargs="*", help=f"all (default, unless --plot alone), or of {SCENARIOS}"
    )
    p.add_argument("--jobs", type=int, help="override the scenario's job count")
    p.add_argument("--builds", type=int, help="override the scenario's builds per job")
    p.add_argument("--presubmit-share", type=float)
    p.add_argument("--latency", type=float, help="seconds per response (default: scenario's)")
    p.add_argument("--baseline-sample", type=int, default=200, help="builds the baseline does")
    p.add_argument(
        "--discovery",
        choices=("all", "default", "deck", "gcs", "auto"),
        default="all",
        help="backfill/cron: modes to measure; all = the CLI default, deck and gcs (when "
        "`prow-crawler run` has --discovery); default = no --discovery flag",
    )
    for key in DEFAULT_LIMITS:
        kind = int if key in ("deck_concurrency", "gcs_concurrency", "logilica_concurrency",
                              "batch_size") else float  # fmt: skip
        p.add_argument(f"--{key.replace('_', '-')}", type=kind, help="override the limit")
    p.add_argument("--run-timeout", type=float, default=600.0, help="hard timeout per crawl")
    p.add_argument("--profile", action="store_true", help="cpu: also run under cProfile")
    p.add_argument("--plot", action="store_true", help="throughput vs GCS concurrency (PNG)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = p.parse_args(argv)
    if not args.scenarios and not args.plot:
        args.scenarios = ["all"]
    names = list(SCENARIOS) if "all" in args.scenarios else args.scenarios
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        p.error(f"unknown scenario(s) {unknown}; choose from all, {', '.join(SCENARIOS)}")
    args.scenarios = names
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    funcs = {
        "backfill": scenario_backfill,
        "ratelimit": scenario_ratelimit,
        "cpu": scenario_cpu,
        "memory": scenario_memory,
        "cron": scenario_cron,
    }
    meta = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "discovery_option": discovery_supported(),
    }
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="prow-bench-") as tmp:
        for name in args.scenarios:
            t0 = time.perf_counter()
            result = funcs[name](args, Path(tmp) / name)
            result.update(meta, scenario=name, bench_seconds=round(time.perf_counter() - t0, 1))
            results[name] = result
            path = args.out / f"{name}.json"
            path.write_text(json.dumps(result, indent=2) + "\n")
            print(f"  -> {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        if args.plot:
            result = plot_gcs_concurrency(args, Path(tmp) / "plot")
            (args.out / "gcs_concurrency.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
