"""Output: one table per scenario on stdout, the JSON files, the GCS-concurrency PNG and the
cProfile summary.

Every function here reads the result dict a scenario returns (the same dict that goes to
bench/out/SCENARIO.json); none of them measures anything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.measure import ROOT


def table(title: str, header: Sequence[object], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for k, row in enumerate(cells):
        line = (c.rjust(w) if k else c.ljust(w) for c, w in zip(row, widths, strict=True))
        print("  " + "  ".join(line))
        if k == 0:
            print("  " + "  ".join("-" * w for w in widths))


def write_json(path: Path, result: dict[str, Any]) -> None:
    path.write_text(json.dumps(result, indent=2) + "\n")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:g}"


def print_backfill(out: dict[str, Any]) -> None:
    shape, base = out["shape"], out["baseline"]
    rows: list[tuple[object, ...]] = [
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
    table(
        f"backfill: {shape['jobs']} jobs x {shape['builds']} builds, "
        f"latency {_ms(shape['latency'])} ms",
        ("run", "builds", "wall s", "cpu s", "builds/s", "speed-up", "bound b/s", "eff.", "exit"),
        rows,
    )
    for f in out["runs"]:
        print(
            f"  {f['discovery']}: requests/s {f['client_requests_per_s']}; sandbox saw "
            f"{f['server_requests']}; {f['builds_per_post']} builds/POST; "
            f"peak RSS {f['peak_rss_mb']} MB"
        )


def print_ratelimit(out: dict[str, Any]) -> None:
    shape, limits = out["shape"], out["run"]["limits"]
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
    table(
        f"ratelimit: {shape['jobs'] * shape['builds']} builds, batch {limits['batch_size']:g}, "
        f"latency {_ms(shape['latency'])} ms (server-side arrival times)",
        ("service", "requests", "limit/s", "achieved/s", "of limit", "max 1s", "min gap ms", "<=R"),
        rows,
    )


def print_cpu(out: dict[str, Any]) -> None:
    shape, fig = out["shape"], out["run"]
    table(
        f"cpu: {shape['jobs'] * shape['builds']} builds, latency 0, rates unlimited",
        ("builds", "wall s", "cpu s", "ms/build", "ms/build excl. start", "start cpu s", "b/s"),
        [
            (
                f"{fig['uploaded']}/{fig['builds_in_shape']}",
                fig["wall_s"],
                fig["cpu_s"],
                fig["cpu_ms_per_build"],
                fig["cpu_ms_per_build_net"],
                fig["startup"]["cpu_s"],
                fig["builds_per_s"],
            )
        ],
    )
    if out["profile_top"]:
        print("  top functions by own time (cProfile, bench/out/cpu.prof):")
        for row in out["profile_top"][:15]:
            print(f"    {row['tottime_s']:7.3f} s  {row['calls']:>8}  {row['function']}")


def print_memory(out: dict[str, Any]) -> None:
    a, b = out["runs"]
    table(
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


def print_cron(out: dict[str, Any]) -> None:
    shape = out["shape"]
    table(
        f"cron: {shape['jobs']} jobs x {shape['builds']} builds, all tracked by a first run "
        f"({out['fill']['uploaded']} uploaded); latency {_ms(shape['latency'])} ms, default "
        "limits; bound = what the GCS and Logilica limits allow",
        (
            "run",
            "deck pages",
            "feed",
            "GCS req",
            "uploaded",
            "POSTs",
            "wall s",
            "bound s",
            "cpu s",
            "exit",
        ),
        [
            (
                r["run"],
                r["deck_pages"],
                r["feed_requests"],
                r["gcs_requests"],
                r["uploaded"],
                r["posts"],
                r["wall_s"],
                r["bound_s"],
                r["cpu_s"],
                r["exit_code"],
            )
            for r in out["runs"]
        ],
    )


def print_small(out: dict[str, Any]) -> None:
    shape, targets, met = out["shape"], out["targets"], out["met"]
    expected = out["expected_uploads"]
    table(
        f"small: {shape['jobs']} jobs x {out['new_per_job']} new builds (of {shape['builds']}), "
        f"latency {_ms(shape['latency'])} ms, default limits; each repetition from the "
        "trackers as the fill left them",
        ("rep", "builds uploaded", "sandbox received", "wall s", "cpu s", "first req s", "exit"),
        [
            (
                r["repetition"],
                f"{r['uploaded']}/{expected}",
                r["builds_received"],
                f"{r['wall_s']:.3f}",
                r["cpu_s"],
                "-" if r["first_request_s"] is None else f"{r['first_request_s']:.3f}",
                r["exit_code"],
            )
            for r in out["repetitions"]
        ],
    )
    wall, base, start, fill = out["wall_s"], out["baseline"], out["startup"], out["fill"]

    def yes(key: str) -> str:
        return "yes" if met[key] else "NO"

    def median(fig: dict[str, Any]) -> str:
        return "-" if fig["median_s"] is None else f"{fig['median_s']:.3f}"

    table(
        f"small: medians over {len(out['repetitions'])} repetitions (whole processes, "
        "interpreter start-up included)",
        ("figure", "value", "target", "met"),
        [
            (
                "builds uploaded, every repetition",
                " ".join(str(r["uploaded"]) for r in out["repetitions"]),
                f"{expected} each",
                yes("all_uploaded"),
            ),
            (
                "crawler wall s (min-max)",
                f"{wall['median_s']:.3f} ({wall['min_s']:.3f}-{wall['max_s']:.3f})",
                "-",
                "-",
            ),
            (
                f"fill run uploaded (--limit {fill['limit']})",
                f"{fill['uploaded']}/{shape['jobs'] * shape['builds'] - expected}",
                "-",
                "-",
            ),
            (
                f"baseline s ({base['builds']} builds, sequential)",
                f"{base['seconds']:.3f}" + (f", {base['failed']} failed" if base["failed"] else ""),
                "the same builds",
                "yes" if out["baseline_matches_new_builds"] else "NO",
            ),
            ("speed-up", f"{out['speedup']}x", f">= {targets['speedup']:g}x", yes("speedup")),
            (
                "limits' floor s (speed-up there)",
                f"{out['bound_s']:.3f} ({out['speedup_at_bound']}x)",
                "-",
                "-",
            ),
            (
                "crawler cpu s (median) / peak RSS MB (max)",
                f"{out['cpu_s_median']} / {out['peak_rss_mb']}",
                "-",
                "-",
            ),
            ("`--help` wall s", median(start["help"]), f"< {targets['help_s']:g}", yes("help")),
            (
                "`validate` wall s",
                median(start["validate"]),
                f"< {targets['validate_s']:g}",
                yes("validate"),
            ),
            (
                "start to first request s",
                median(start["first_request"]),
                f"< {targets['first_request_s']:g}",
                yes("first_request"),
            ),
        ],
    )

    phases = out["phases_median"]
    table(
        "small: where the wall time goes (medians; seconds after the process started, "
        "as the sandbox saw the requests arrive)",
        ("service", "requests", "first arrived s", "last arrived s"),
        [(s, p["requests"], f"{p['first_s']:.3f}", f"{p['last_s']:.3f}") for s, p in phases.items()]
        + [("process exit", "-", "-", f"{wall['median_s']:.3f}")],
    )


def print_plot(out: dict[str, Any]) -> None:
    table(
        "throughput vs GCS concurrency (deck/Logilica rates lifted)",
        ("gcs conc.", "builds/s", "bound b/s"),
        [(p["gcs_concurrency"], p["builds_per_s"], p["bound"]) for p in out["points"]],
    )


def plot_png(out: dict[str, Any], png: Path) -> bool:
    """Throughput against --gcs-concurrency as a PNG; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (matplotlib not installed: no PNG; pip install matplotlib)")
        return False
    points, shape = out["points"], out["shape"]
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [p["gcs_concurrency"] for p in points]
    ax.plot(xs, [p["builds_per_s"] for p in points], "o-", label="achieved")
    ax.plot(xs, [p["bound"] for p in points], "--", label="bound (concurrency / latency)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("--gcs-concurrency")
    ax.set_ylabel("builds/s")
    ax.set_title(f"{shape['jobs'] * shape['builds']} builds, latency {_ms(shape['latency'])} ms")
    ax.legend()
    fig.savefig(png, dpi=100, bbox_inches="tight")
    print(f"  wrote {png}")
    return True


def top_functions(path: Path, n: int = 25) -> list[dict[str, Any]]:
    """The n functions with the most own time in a cProfile file."""
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


def print_feed(out: dict[str, Any]) -> None:
    table(
        f"feed: /prowjobs.js of {out['runs'][0]['items']} items "
        f"({out['bytes'] / 1e6:.1f} MB, omit=annotations,labels,decoration_config,pod_spec), "
        "parsed in 64 KiB chunks in a process of its own",
        ("run", "seconds", "RSS before MB", "peak MB", "extra MB", "jobs", "skipped"),
        [
            (
                i,
                r["seconds"],
                r["rss_before_mb"],
                r["peak_rss_mb"],
                r["extra_mb"],
                r["jobs"],
                r["skipped"],
            )
            for i, r in enumerate(out["runs"], 1)
        ],
    )
