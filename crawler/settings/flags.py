"""The command line's shared options, declared once for `run`, `crawl` and `status`.

Only typer and built-in defaults here: `--help` must not import the crawler's machinery.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crawler.core.defaults import DEFAULT_LIMIT

JobsOpt = Annotated[Path, typer.Option("--jobs", help="Jobs file (YAML).")]
TrackerOpt = Annotated[
    Path, typer.Option("--tracker-dir", help="Directory of per-job tracker files.")
]
LimitOpt = Annotated[
    int | None,
    typer.Option(
        "--limit",
        min=0,
        help=f"New builds per job per run, oldest first; 0 = no limit. Beats the jobs file "
        f"[default: a job's limit, else {DEFAULT_LIMIT}]",
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Only builds that started after this: 2026-05-01, an RFC 3339 time, or 90d / 36h "
        "/ 2w back from now. Beats the jobs file.",
    ),
]
NoFeedOpt = Annotated[
    bool,
    typer.Option(
        "--no-feed",
        help="Do not read deck's ProwJob feed: every job's newest page is read, and match "
        "items use the jobs they matched before.",
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Show what would be uploaded; no POST, no tracker writes.")
]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Per-build lines; full JSON objects in a dry run.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the final summary as JSON on stdout.")]
DeadlineOpt = Annotated[
    str | None,
    typer.Option("--deadline", help="Stop cleanly after this long, e.g. 50m (for cron)."),
]
RetryFailedOpt = Annotated[
    bool,
    typer.Option(
        "--retry-failed",
        help="Also retry builds given up on (they failed for good in several runs in a row).",
    ),
]
DiscoveryOpt = Annotated[
    str | None,
    typer.Option(
        "--discovery",
        help="How new builds are found: 'gcs' lists the job's bucket folder, 'deck' walks its "
        "job-history pages, 'auto' (default) lists while a job catches up, then uses deck. "
        "Deck's newest page is read in every mode. Beats the jobs file.",
    ),
]
MetricsFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--metrics-file",
        help="Write Prometheus metrics here at the end of the run (for node_exporter's "
        "textfile collector). Beats output.metrics_file in the jobs file.",
    ),
]
PushgatewayOpt = Annotated[
    str | None,
    typer.Option(
        "--pushgateway",
        help="Push the metrics to this Pushgateway (http://HOST:9091) under job prow_crawler. "
        "Beats output.pushgateway in the jobs file.",
    ),
]
WaitLockOpt = Annotated[
    str | None,
    typer.Option(
        "--wait-lock",
        help="Wait up to this long (e.g. 10m) for jobs another run holds, instead of skipping.",
    ),
]
