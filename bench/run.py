"""Benchmark harness: the real `prow-crawler run` against the sandbox in its own process.

    .venv/bin/python -m bench.run all            # every scenario (~8 min on 2 cores)
    .venv/bin/python -m bench.run backfill cron  # some of them
    .venv/bin/python -m bench.run backfill --jobs 2 --builds 10 --latency 0   # tiny

Every scenario starts `python -m crawler.sandbox` as a separate process (loopback only), so
the crawler's CPU time and memory are measured apart from the servers'. The crawler runs as a
subprocess too; its CPU seconds and peak RSS come from os.wait4() on exactly that process.
Results: a table per scenario on stdout, JSON in bench/out/SCENARIO.json. See bench/README.md.
This file is the command line; bench/scenarios.py, bench/measure.py and bench/tables.py do
the work.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import DEFAULT_LIMITS, ROOT
from bench.scenarios import SCENARIOS, SPECS, plot_gcs_concurrency
from bench.tables import write_json

_INT_LIMITS = ("deck_concurrency", "gcs_concurrency", "logilica_concurrency", "batch_size")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "scenarios", nargs="*", help=f"all (default, unless --plot alone), or of {tuple(SCENARIOS)}"
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
        help="backfill/cron: modes to measure; all = the CLI default, deck and gcs; "
        "default = no --discovery flag",
    )
    for key in DEFAULT_LIMITS:
        kind = int if key in _INT_LIMITS else float
        p.add_argument(f"--{key.replace('_', '-')}", type=kind, help="override the limit")
    p.add_argument("--run-timeout", type=float, default=600.0, help="hard timeout per crawl")
    p.add_argument(
        "--repeat", type=int, default=5, help="small: measured runs and start-up samples"
    )
    p.add_argument("--profile", action="store_true", help="cpu: also run under cProfile")
    p.add_argument("--plot", action="store_true", help="throughput vs GCS concurrency (PNG)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
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
    meta = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    with tempfile.TemporaryDirectory(prefix="prow-bench-") as tmp:
        for name in args.scenarios:
            t0 = time.perf_counter()
            result = SCENARIOS[name](args, Path(tmp) / name)
            seconds = round(time.perf_counter() - t0, 1)
            result.update(meta, scenario=name, target=SPECS[name].target, bench_seconds=seconds)
            path = args.out / f"{name}.json"
            write_json(path, result)
            print(f"  -> {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        if args.plot:
            result = plot_gcs_concurrency(args, Path(tmp) / "plot")
            write_json(args.out / "gcs_concurrency.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
