"""The scenarios: what each one runs, with which shape and limits, and what it reports.

SPECS holds every scenario's default shape and limits in one place; --jobs, --builds,
--presubmit-share, --latency and the limit flags of `python -m bench.run` override them.
Each scenario function takes the parsed arguments and a scratch directory, prints its
table(s) and returns the dict that becomes bench/out/SCENARIO.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import tables
from bench.baseline import run_baseline
from bench.measure import (
    DEFAULT_LIMITS,
    PY,
    SandboxProcess,
    Shape,
    crawl_figures,
    cron_bound,
    first_request_s,
    phases,
    run_crawler,
    small_run_bound,
    spread,
    startup_cpu,
    stats_delta,
    whole_process_walls,
    window_stats,
)
from crawler.core.defaults import DEFAULT_LIMIT

FAST = {"deck_rps": 1000.0, "logilica_rps": 1000.0}  # "no rate limit" for CPU/memory runs
# Fill runs (cron, small) only make the trackers; these rates apply whatever the flags say.
FILL = {"deck_rps": 50.0, "logilica_rps": 50.0}


@dataclass(frozen=True)
class Spec:
    shape: Shape
    limits: dict[str, float] = field(default_factory=dict)  # over the crawler's defaults
    target: str = ""


SPECS: dict[str, Spec] = {
    "backfill": Spec(Shape(jobs=20, builds=200), target=">= 50x the baseline"),
    "ratelimit": Spec(
        Shape(jobs=6, builds=30, record_arrivals=True),
        {"logilica_rps": 5.0, "batch_size": 1, "deck_rps": 2.0},
        ">= 90 % of R, never above R",
    ),
    "cpu": Spec(Shape(jobs=20, builds=500, latency=0.0), FAST, "<= 1 ms CPU per build"),
    # Then 10x the builds per job.
    "memory": Spec(Shape(jobs=10, builds=100, latency=0.0), FAST, "< 150 MB, growth < 20 %"),
    "cron": Spec(
        Shape(jobs=1000, builds=12, new_per_signal=2),
        target="nothing new: 1 deck request, 0 GCS; within 2x of the limits' bound",
    ),
    "feed": Spec(Shape(jobs=600, builds=50), target="30,000 items: < 50 MB extra peak RSS"),
    # builds // 2 per job are new to the measured run; the fill uploads the older half.
    "small": Spec(
        Shape(jobs=10, builds=40, record_arrivals=True),
        target=">= 50x, all uploaded; --help, validate < 0.25 s; first request < 0.3 s",
    ),
    # gcs_concurrency goes 2..64 whatever --gcs-concurrency says.
    "plot": Spec(Shape(jobs=10, builds=50), {**FAST, "logilica_concurrency": 8}),
}
SMALL_TARGETS = {"speedup": 50.0, "help_s": 0.25, "validate_s": 0.25, "first_request_s": 0.3}
PLOT_CONCURRENCY = (2, 4, 8, 16, 32, 64)


def _shape(args: argparse.Namespace, name: str) -> Shape:
    shape = dataclasses.replace(SPECS[name].shape)
    for key in ("jobs", "builds", "presubmit_share", "latency"):
        value = getattr(args, key)
        if value is not None:
            setattr(shape, key, value)
    return shape


def _limits(args: argparse.Namespace, name: str, **overrides: float) -> dict[str, float]:
    """The crawler's defaults, then the scenario's, then `overrides`; limit flags win."""
    limits = {**DEFAULT_LIMITS, **SPECS[name].limits, **overrides}
    for key in DEFAULT_LIMITS:
        value = getattr(args, key)
        if value is not None:
            limits[key] = value
    return limits


def _modes(args: argparse.Namespace) -> list[str]:
    """Discovery modes to measure; "default" runs without --discovery (the CLI's default)."""
    return ["default", "deck", "gcs"] if args.discovery == "all" else [args.discovery]


def _flag(mode: str) -> str | None:
    return None if mode == "default" else mode


def scenario_backfill(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    shape = _shape(args, "backfill")
    limits = _limits(args, "backfill")
    out: dict[str, Any] = {"shape": asdict(shape), "runs": []}
    with SandboxProcess(shape) as sb:
        out["sandbox_ready_s"] = round(sb.ready_seconds, 2)
        before = sb.stats()
        base = run_baseline(sb.job_urls(), sb.env, args.baseline_sample)
        base["server"] = stats_delta(before, sb.stats())
        out["baseline"] = base
        for mode in _modes(args):
            trackers = work / f"trackers-{mode}"
            run = run_crawler(sb, trackers, limits, _flag(mode), args.run_timeout)
            fig = crawl_figures(run, shape, limits, mode)
            fig["speedup"] = (
                round(fig["builds_per_s"] / base["builds_per_s"], 1) if base["builds_per_s"] else 0
            )
            out["runs"].append(fig)
        sb.stop()
    tables.print_backfill(out)
    return out


def scenario_ratelimit(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    shape = _shape(args, "ratelimit")
    limits = _limits(args, "ratelimit")
    with SandboxProcess(shape) as sb:
        started = time.monotonic()  # system-wide clock, as the sandbox's arrival times
        # --discovery deck, so that deck pages are measured too.
        run = run_crawler(sb, work / "trackers", limits, "deck", args.run_timeout)
        final = sb.stop()
    arrivals = [a for a in final.get("arrivals", []) if a[0] >= started]
    posts = [t for t, service, method in arrivals if service == "logilica" and method == "POST"]
    deck = [t for t, service, _ in arrivals if service == "deck"]
    out = {
        "shape": asdict(shape),
        "run": crawl_figures(run, shape, limits, "deck"),
        "logilica_posts": window_stats(posts, limits["logilica_rps"]),
        "deck_pages": window_stats(deck, limits["deck_rps"]),
    }
    tables.print_ratelimit(out)
    return out


def scenario_cpu(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    shape = _shape(args, "cpu")
    limits = _limits(args, "cpu")
    startup = startup_cpu(args.run_timeout)
    with SandboxProcess(shape) as sb:
        run = run_crawler(sb, work / "trackers", limits, None, args.run_timeout)
        fig = crawl_figures(run, shape, limits, "default")
        prof = None
        if args.profile:
            args.out.mkdir(parents=True, exist_ok=True)
            path = args.out / "cpu.prof"
            prefix = [PY, "-m", "cProfile", "-o", str(path)]
            run_crawler(sb, work / "trackers-prof", limits, None, args.run_timeout, prefix)
            prof = tables.top_functions(path)
        sb.stop()
    net = fig["cpu_s"] - startup["cpu_s"]
    fig["startup"] = startup
    n = fig["uploaded"]
    fig["cpu_ms_per_build_net"] = round(1000 * net / n, 3) if n else None
    out = {"shape": asdict(shape), "run": fig, "profile_top": prof}
    tables.print_cpu(out)
    return out


def scenario_memory(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    small = _shape(args, "memory")
    limits = _limits(args, "memory")
    out: dict[str, Any] = {"runs": []}
    for factor in (1, 10):
        shape = Shape(small.jobs, small.builds * factor, small.presubmit_share, small.latency)
        with SandboxProcess(shape) as sb:
            run = run_crawler(sb, work / f"trackers-{factor}", limits, None, args.run_timeout)
            sb.stop()
        fig = crawl_figures(run, shape, limits, "default")
        fig["shape"] = asdict(shape)
        out["runs"].append(fig)
    a, b = out["runs"]
    out["growth"] = round(b["peak_rss_mb"] / a["peak_rss_mb"] - 1, 3)
    tables.print_memory(out)
    return out


def scenario_cron(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Hourly runs over many jobs, all seen before: nothing new, then 1-2 new builds per job
    (the sandbox adds them between the runs). With deck's feed a run needs one deck request
    however many jobs it covers; `--no-feed` shows the page-per-job cost beside it."""
    shape = _shape(args, "cron")
    limits = _limits(args, "cron")
    fill_limits = {**limits, **FILL}
    everything = {**DEFAULT_LIMITS, **limits}
    out: dict[str, Any] = {"shape": asdict(shape), "runs": []}
    with SandboxProcess(shape) as sb:
        trackers = work / "trackers-cron"
        fill = run_crawler(sb, trackers, fill_limits, None, args.run_timeout)
        out["fill"] = {"uploaded": _uploaded(fill), "wall_s": round(fill["wall_s"], 3)}
        steps = [("nothing new", None), ("nothing new, --no-feed", ["--no-feed"])]
        steps += [("1-2 new per job", "add"), ("nothing new again", None)]
        for label, extra in steps:
            if extra == "add":
                out["added"] = sb.add_builds().get("added")
                extra = None
            run = run_crawler(sb, trackers, limits, None, args.run_timeout, suffix=extra)
            server = run["server"]
            gcs = server["gcs_requests"]
            downloads = gcs.get("media", 0) + gcs.get("metadata", 0)
            posts = server["logilica_posts"]
            out["runs"].append(
                {
                    "run": label,
                    "deck_pages": sum(server["deck_requests"].values()),
                    "feed_requests": sum(server["feed_requests"].values()),
                    "gcs_requests": sum(gcs.values()),
                    "downloads": downloads,
                    "uploaded": _uploaded(run),
                    "posts": posts,
                    "wall_s": round(run["wall_s"], 3),
                    "cpu_s": round(run["cpu_s"], 3),
                    "bound_s": cron_bound(everything, shape.latency, downloads, posts),
                    "exit_code": run["exit_code"],
                    "command": run["command"],
                }
            )
        sb.stop()
    tables.print_cron(out)
    return out


def _uploaded(run: dict[str, Any]) -> int | None:
    """Builds uploaded by the crawler's own count (None without a summary)."""
    return ((run.get("summary") or {}).get("totals") or {}).get("uploaded")


def scenario_small(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """An hourly cron over a few dozen jobs: builds // 2 new builds per job, default limits."""
    shape = _shape(args, "small")
    limits = _limits(args, "small")
    new = shape.builds // 2
    expected = shape.jobs * min(new, DEFAULT_LIMIT)  # the measured run has the default --limit
    reps, timeout = args.repeat, args.run_timeout
    with SandboxProcess(shape) as sb:
        env = {**os.environ, **sb.env}
        help_ = whole_process_walls([PY, "-m", "crawler", "--help"], env, timeout, reps)
        validate_cmd = [PY, "-m", "crawler", "validate", "--jobs", sb.jobs_yaml]
        validate = whole_process_walls(validate_cmd, env, timeout, reps)
        # The baseline first, on the newest `new` builds of each job (deck's first page); the
        # fill then uploads the other builds, so Logilica's distinct count shows the two
        # sets are disjoint, i.e. the baseline did exactly the builds the measured runs do.
        before = sb.stats()
        base = run_baseline(sb.job_urls(), sb.env, shape.jobs * new, per_job=new)
        base["server"] = stats_delta(before, sb.stats())
        fill_dir, template = work / "trackers-fill", work / "trackers-template"
        fill_limit = shape.builds - new
        fill = run_crawler(sb, fill_dir, {**limits, **FILL}, None, timeout, limit=fill_limit)
        shutil.copytree(fill_dir, template)
        runs = []
        for rep in range(1, reps + 1):
            trackers = work / f"trackers-{rep}"
            shutil.copytree(template, trackers)
            runs.append(run_crawler(sb, trackers, limits, None, timeout, limit=None))
        final = sb.stop()
    arrivals = final.get("arrivals", [])
    repetitions = [
        {
            "repetition": rep,
            "uploaded": _uploaded(run),
            "builds_received": run["server"]["builds_received"],
            "failed": ((run.get("summary") or {}).get("totals") or {}).get("failed"),
            "exit_code": run["exit_code"],
            "wall_s": round(run["wall_s"], 4),
            "cpu_s": round(run["cpu_s"], 3),
            "peak_rss_mb": round(run["peak_rss_mb"], 1),
            "first_request_s": first_request_s(
                arrivals, run["started_monotonic"], run["ended_monotonic"]
            ),
            "client_requests": (run.get("summary") or {}).get("requests"),
            "server_requests": run["server"],
            "phases": phases(arrivals, run["started_monotonic"], run["ended_monotonic"]),
        }
        for rep, run in enumerate(runs, 1)
    ]
    wall = spread([r["wall_s"] for r in repetitions])
    firsts = [r["first_request_s"] for r in repetitions if r["first_request_s"] is not None]
    first = {**spread(firsts), "values_s": [r["first_request_s"] for r in repetitions]}
    # The baseline's seconds for the same builds; scaled per build if it did a different number.
    base_s = base["seconds"] * expected / base["builds"] if base["builds"] else 0.0
    speedup = round(base_s / wall["median_s"], 2) if wall["median_s"] else 0.0
    bound_s = small_run_bound(
        shape.jobs, {**DEFAULT_LIMITS, **limits}, shape.latency, first["median_s"] or 0.0
    )
    all_uploaded = all(r["uploaded"] == r["builds_received"] == expected for r in repetitions)
    out: dict[str, Any] = {
        "shape": asdict(shape),
        "new_per_job": new,
        "expected_uploads": expected,
        "limits": limits,
        "fill": {
            "uploaded": _uploaded(fill),
            "limit": fill_limit,
            "limits": {**limits, **FILL},
            "wall_s": round(fill["wall_s"], 3),
            "exit_code": fill["exit_code"],
            "command": fill["command"],
            "distinct_builds_in_logilica_after": base["server"]["distinct_builds_received"]
            + fill["server"]["distinct_builds_received"],
        },
        "baseline": {**base, "seconds_for_expected": round(base_s, 3)},
        "baseline_matches_new_builds": base["builds"] == expected
        and base["failed"] == 0
        and fill["server"]["distinct_builds_received"] == shape.total - expected,
        "command": runs[0]["command"] if runs else None,
        "repetitions": repetitions,
        "wall_s": wall,
        "cpu_s_median": round(statistics.median(r["cpu_s"] for r in repetitions), 3),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in repetitions),
        "speedup": speedup,
        # The limits' floor for this run (see measure.small_run_bound) and its speed-up.
        "bound_s": bound_s,
        "speedup_at_bound": round(base_s / bound_s, 2) if bound_s else None,
        "phases_median": _median_phases([r["phases"] for r in repetitions]),
        "all_uploaded": all_uploaded,
        "startup": {"help": help_, "validate": validate, "first_request": first},
        "targets": SMALL_TARGETS,
    }
    out["met"] = {
        "all_uploaded": all_uploaded,
        "speedup": speedup >= SMALL_TARGETS["speedup"],
        "help": _below(help_["median_s"], SMALL_TARGETS["help_s"]),
        "validate": _below(validate["median_s"], SMALL_TARGETS["validate_s"]),
        "first_request": _below(first["median_s"], SMALL_TARGETS["first_request_s"]),
    }
    tables.print_small(out)
    return out


def _median_phases(runs: list[dict[str, dict[str, float | int]]]) -> dict[str, dict[str, float]]:
    services = sorted({s for run in runs for s in run})
    return {
        s: {
            k: round(statistics.median(run[s][k] for run in runs if s in run), 4)
            for k in ("first_s", "last_s", "requests")
        }
        for s in services
    }


def _below(value: float | None, target: float) -> bool:
    return value is not None and value < target


def plot_gcs_concurrency(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Throughput vs --gcs-concurrency with deck and Logilica limits lifted."""
    shape = _shape(args, "plot")
    points = []
    with SandboxProcess(shape) as sb:
        for conc in PLOT_CONCURRENCY:
            limits = {**_limits(args, "plot"), "gcs_concurrency": conc}
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
    tables.print_plot(out)
    png = args.out / "gcs_concurrency.png"
    if tables.plot_png(out, png):
        out["png"] = str(png)
    return out


Scenario = Callable[[argparse.Namespace, Path], dict[str, Any]]
# `all` runs these, in this order; --plot runs plot_gcs_concurrency.
# A child that parses a feed file as the crawler reads the network: 64 KiB chunks.
_PARSE_FEED = """
import sys, time
from crawler.prow.feed import FeedParser
from crawler.output.report import peak_rss_mb
before = peak_rss_mb()
t0 = time.perf_counter()
parser = FeedParser()
with open(sys.argv[1], "rb") as f:
    while chunk := f.read(65536):
        parser.feed(chunk)
feed = parser.close()
print(time.perf_counter() - t0, before, peak_rss_mb(), feed.items, feed.skipped, len(feed.jobs))
"""


def scenario_feed(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Parsing deck's ProwJob feed of a generated world (~30,000 items, as OpenShift's) in a
    process of its own: seconds, and peak RSS over a process that has only imported it."""
    import json
    import subprocess

    from crawler.sandbox import generated_world
    from crawler.sandbox.feed import FeedSettings, _omitted, feed_items

    shape = _shape(args, "feed")
    jobs, builds = shape.jobs, shape.builds
    world = generated_world(jobs, builds, seed=18, now=int(time.time()))
    omit = frozenset({"annotations", "labels", "decoration_config", "pod_spec"})
    items = [_omitted(i, omit) for i in feed_items(world, FeedSettings(retention=10**9))]
    work.mkdir(parents=True, exist_ok=True)
    path = work / "prowjobs.json"
    path.write_text(json.dumps({"items": items}))
    del world, items
    runs = []
    for _ in range(args.repeat):
        line = subprocess.run(
            [PY, "-c", _PARSE_FEED, str(path)],
            capture_output=True, text=True, check=True, timeout=args.run_timeout,
        ).stdout.split()  # fmt: skip
        seconds, before, peak, count, skipped, njobs = (float(v) for v in line)
        runs.append(
            {
                "seconds": round(seconds, 3),
                "rss_before_mb": before,
                "peak_rss_mb": peak,
                "extra_mb": round(peak - before, 1),
                "items": int(count),
                "skipped": int(skipped),
                "jobs": int(njobs),
            }
        )
    out = {"bytes": path.stat().st_size, "runs": runs}
    tables.print_feed(out)
    return out


SCENARIOS: dict[str, Scenario] = {
    "feed": scenario_feed,
    "backfill": scenario_backfill,
    "ratelimit": scenario_ratelimit,
    "cpu": scenario_cpu,
    "memory": scenario_memory,
    "cron": scenario_cron,
    "small": scenario_small,
}
