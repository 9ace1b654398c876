"""python -m crawler.sandbox: one sandbox served until SIGINT/SIGTERM, for benchmarks and manual
runs; SIGUSR1 prints the request counts so far, SIGUSR2 adds builds (--new-per-signal)."""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from .faults import Faults
from .server import Sandbox
from .world import World
from .worldgen import default_world, generated_world


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m crawler.sandbox",
        description="Serve a fake Prow deck, GCS and Logilica until Ctrl-C or SIGTERM.",
    )
    parser.add_argument("--jobs", type=int, help="generate a world with this many jobs")
    parser.add_argument("--builds", type=int, help="builds per generated job")
    parser.add_argument("--presubmit-share", type=float, default=0.25)
    parser.add_argument("--running", type=int, default=0, help="running builds per job")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per response")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of 503 answers")
    parser.add_argument(
        "--faults",
        metavar="SPEC",
        help="faults as `prow-crawler demo --faults` takes them (replaces --latency/--error-rate)",
    )
    parser.add_argument(
        "--record-arrivals",
        action="store_true",
        help="include every request's arrival time in SANDBOX_STATS (for rate benchmarks)",
    )
    parser.add_argument(
        "--new-per-signal",
        type=int,
        default=0,
        help="on SIGUSR2, add this many finished builds to every job (print SANDBOX_ADDED)",
    )
    parser.add_argument("--token", help="Logilica token to require (default: random)")
    parser.add_argument("--domain", default="sandbox")
    parser.add_argument("--dir", type=Path, help="where to write jobs.yaml (default: temp dir)")
    return parser.parse_args(argv)


def _world_from(args: argparse.Namespace) -> World:
    if args.jobs is None and args.builds is None:
        return default_world()
    return generated_world(
        args.jobs or 20,
        args.builds or 200,
        presubmit_share=args.presubmit_share,
        running_per_job=args.running,
        seed=args.seed,
    )


def _print_ready(sandbox: Sandbox, jobs_yaml: Path) -> None:
    world = sandbox.world
    print(
        f"prow-crawler sandbox: {len(world.jobs)} jobs, {len(world.builds())} builds"
        f" ({len(world.finished_builds())} finished), ready in {sandbox.timings['start']:.2f} s"
    )
    print(f"  deck:     {sandbox.deck_url}")
    print(f"  gcs:      {sandbox.gcs_url}  (emulator: {sandbox.emulator_url})")
    print(f"  logilica: {sandbox.logilica_url}")
    print("Point the crawler at it with:")
    for key, value in sandbox.env().items():
        print(f"  export {key}={shlex.quote(value)}")
    print(f"jobs.yaml: {jobs_yaml}")
    ready = {"env": sandbox.env(), "jobs_yaml": str(jobs_yaml), "deck_url": sandbox.deck_url}
    print("SANDBOX_READY " + json.dumps(ready), flush=True)


def _stats(sandbox: Sandbox, arrivals: bool = False) -> dict:
    stats = {
        "deck_requests": dict(sandbox.deck_requests.snapshot()),
        "gcs_requests": dict(sandbox.gcs_requests.snapshot()),
        "feed_requests": dict(sandbox.feed_requests.snapshot()),
        "logilica_posts": sandbox.recorder.posts,
        "builds_received": sum(sandbox.recorder.count_by_id().values()),
        "distinct_builds_received": len(sandbox.recorder.count_by_id()),
    }
    if arrivals:  # (time.monotonic(), service, method) of each request as it arrived
        stats["arrivals"] = [(h.at, h.service, h.method) for h in sandbox.faults.hits()]
    return stats


def main(argv: list[str] | None = None) -> int:
    """Run a sandbox until interrupted (benchmarks run this as a separate process)."""
    args = _parse_args(argv)
    try:
        faults = (
            Faults.parse(args.faults)
            if args.faults
            else Faults(latency=args.latency, error_rate=args.error_rate, seed=args.seed)
        )
    except ValueError as exc:
        print(f"error: --faults: {exc}", file=sys.stderr)
        return 2
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="prow-sandbox-"))
    stop = threading.Event()
    snapshot = threading.Event()  # SIGUSR1: print SANDBOX_STATS so far and keep serving
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: snapshot.set())
    grow = threading.Event()  # SIGUSR2: new finished builds for every job (--new-per-signal)
    signal.signal(signal.SIGUSR2, lambda *_: grow.set())
    try:
        with Sandbox(_world_from(args), token=args.token, domain=args.domain, faults=faults) as sb:
            _print_ready(sb, sb.write_jobs_yaml(workdir))
            while not stop.wait(0.05):
                if snapshot.is_set():
                    snapshot.clear()
                    print("SANDBOX_STATS " + json.dumps(_stats(sb)), flush=True)
                if grow.is_set():
                    grow.clear()
                    added = sum(
                        len(sb.add_builds(job.name, args.new_per_signal)) for job in sb.world.jobs
                    )
                    print("SANDBOX_ADDED " + json.dumps({"added": added}), flush=True)
            stats = _stats(sb, arrivals=args.record_arrivals)
            print("SANDBOX_STATS " + json.dumps(stats), flush=True)
    finally:
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0
