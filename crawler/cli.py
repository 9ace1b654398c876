"""The `prow-crawler` command line: options -> settings -> pipeline -> exit status.

Exit status: 0 every attempted build uploaded (or nothing new); 1 a build or job failed;
2 usage or configuration error, found before any network request.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from crawler.checkpoint import read_checkpoint
from crawler.config import (
    DEFAULT_LIMIT,
    Config,
    Overrides,
    RunOptions,
    api_root_from_env,
    apply_overrides,
    check_horizons,
    load_config,
    parse_duration,
    select_jobs,
    single_job_config,
)
from crawler.errors import ConfigError, CrawlerError
from crawler.pipeline import Pipeline
from crawler.report import (
    PlainReporter,
    Reporter,
    RichReporter,
    RunSummary,
    dump_json,
    peak_rss_mb,
    print_summary,
)
from crawler.retry import GIVE_UP_AFTER_RUNS
from crawler.secret import Secret
from crawler.tracker import FailureLog, read_tracker_summary

app = typer.Typer(
    help="Record finished Prow (OpenShift CI) builds in Logilica, for every job in jobs.yaml.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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
        help=f"Also retry builds that failed for good {GIVE_UP_AFTER_RUNS} runs in a row.",
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
WaitLockOpt = Annotated[
    str | None,
    typer.Option(
        "--wait-lock",
        help="Wait up to this long (e.g. 10m) for jobs another run holds, instead of skipping.",
    ),
]


def _stderr() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def _config_error(exc: ConfigError) -> typer.Exit:
    _stderr().print(f"error: {exc}", markup=False)
    return typer.Exit(2)


def _options(
    config: Config,
    tracker_dir: Path,
    dry_run: bool,
    max_pages: int | None,
    verbose: bool,
    *,
    retry_failed: bool = False,
    wait_lock: str | None = None,
) -> RunOptions:
    """Resolve environment and flags; ConfigError for what a real run is missing."""
    token = os.environ.get("LOGILICA_TOKEN", "").strip()
    domain = os.environ.get("LOGILICA_DOMAIN", "").strip() or config.logilica.domain
    api_url = os.environ.get("LOGILICA_API_URL", "").strip() or config.logilica.api_url
    if not dry_run:
        if not token:
            raise ConfigError(
                "LOGILICA_TOKEN is not set: export your Logilica API token "
                "(or use --dry-run, which needs none)"
            )
        if not domain:
            raise ConfigError(
                "no Logilica domain: set LOGILICA_DOMAIN or 'logilica: {domain: ...}' in the "
                "jobs file"
            )
        if not api_url.startswith(("https://", "http://")):
            raise ConfigError(f"LOGILICA_API_URL {api_url!r} is not an http(s) URL")
    return RunOptions(
        tracker_dir=tracker_dir,
        dry_run=dry_run,
        max_pages=max_pages,
        verbose=verbose,
        gcs_api_root=api_root_from_env(),
        token=Secret(token) if token else None,
        domain=domain,
        api_url=api_url,
        retry_failed=retry_failed,
        lock_wait=parse_duration(wait_lock) if wait_lock else 0.0,
    )


def _reporter(verbose: bool, as_json: bool) -> Reporter:
    if sys.stderr.isatty() and sys.stdout.isatty() and not as_json:
        return RichReporter(_stderr(), per_build=verbose, verbose=verbose)
    # With --json, stdout carries the JSON document alone: dry-run lines go to stderr.
    dry_out = sys.stderr if as_json else None
    return PlainReporter(sys.stderr, per_build=True, dry_out=dry_out, verbose=verbose)


def execute(
    config: Config, options: RunOptions, *, as_json: bool, deadline: float | None = None
) -> int:
    """Run the pipeline, print the summary, return the exit status.

    SIGINT/SIGTERM stop the run cleanly (uploads in flight finish, exit 130/143); a second
    signal exits at once: tracker lines are whole-line writes, so the files stay valid.
    """
    pipeline = Pipeline(config, options, _reporter(options.verbose, as_json))
    signalled: list[int] = []

    def on_signal(signum: int) -> None:
        code = 128 + signum
        if signalled:
            sys.stderr.write(f"second {signal.Signals(signum).name}: exiting now\n")
            sys.stderr.flush()
            os._exit(code)
        signalled.append(code)
        pipeline.request_stop(signal.Signals(signum).name)

    async def main() -> RunSummary:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal, signum)
        if deadline is not None:
            loop.call_later(deadline, pipeline.request_stop, "deadline reached")
        return await pipeline.run()

    try:
        summary = asyncio.run(main())
    except Exception as exc:  # a bug: say so in one line; trackers are whole-line writes
        _stderr().print(
            f"prow-crawler: internal error: {type(exc).__name__}: {exc} "
            "(please report it; tracker files are intact, a rerun is safe)",
            markup=False,
        )
        return 1
    summary.peak_rss_mb = peak_rss_mb()
    if as_json:
        print_summary(summary, _stderr())
        dump_json(summary, sys.stdout)
    else:
        print_summary(summary, Console(highlight=False, soft_wrap=True))
    return signalled[0] if signalled else summary.exit_code


def _apply_limits(config: Config, **overrides: float | int | None) -> Config:
    values = {k: v for k, v in overrides.items() if v is not None}
    return replace(config, limits=replace(config.limits, **values)) if values else config


@app.command()
def run(
    jobs: JobsOpt = Path("jobs.yaml"),
    tracker_dir: TrackerOpt = Path("tracker"),
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    job: Annotated[
        list[str] | None, typer.Option("--job", help="Only this job (repeatable).")
    ] = None,
    max_pages: Annotated[
        int | None,
        typer.Option("--max-pages", min=1, help="Walk at most N history pages per job."),
    ] = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
    deadline: DeadlineOpt = None,
    retry_failed: RetryFailedOpt = False,
    wait_lock: WaitLockOpt = None,
    discovery: DiscoveryOpt = None,
    since: SinceOpt = None,
    shard: Annotated[
        str | None,
        typer.Option("--shard", help="Only jobs of shard I of N (I/N, stable hash of the name)."),
    ] = None,
    deck_concurrency: Annotated[int | None, typer.Option(min=1)] = None,
    deck_rps: Annotated[float | None, typer.Option(min=0.001)] = None,
    gcs_concurrency: Annotated[int | None, typer.Option(min=1)] = None,
    logilica_concurrency: Annotated[int | None, typer.Option(min=1)] = None,
    logilica_rps: Annotated[float | None, typer.Option(min=0.001)] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Builds per POST.")] = None,
    timeout: Annotated[float | None, typer.Option(min=0.1, help="Seconds per request.")] = None,
) -> None:
    """Crawl every job in the jobs file and upload newly finished builds."""
    try:
        config = select_jobs(load_config(jobs), job, shard)
        config = apply_overrides(config, Overrides(limit=limit, discovery=discovery, since=since))
        check_horizons(config, time.time())
        config = _apply_limits(
            config,
            deck_concurrency=deck_concurrency,
            deck_rps=deck_rps,
            gcs_concurrency=gcs_concurrency,
            logilica_concurrency=logilica_concurrency,
            logilica_rps=logilica_rps,
            batch_size=batch_size,
            timeout=timeout,
        )
        options = _options(
            config,
            tracker_dir,
            dry_run,
            max_pages,
            verbose,
            retry_failed=retry_failed,
            wait_lock=wait_lock,
        )
        seconds = parse_duration(deadline) if deadline else None
    except ConfigError as exc:
        raise _config_error(exc) from None
    raise typer.Exit(execute(config, options, as_json=as_json, deadline=seconds))


@app.command()
def crawl(
    job_url: Annotated[str, typer.Option("--job-url", help="Prow job-history URL.")],
    repo: Annotated[
        str | None, typer.Option("--repo", help="Logilica repository ORG/NAME.")
    ] = None,
    tracker_dir: TrackerOpt = Path("tracker"),
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
    deadline: DeadlineOpt = None,
    retry_failed: RetryFailedOpt = False,
    discovery: DiscoveryOpt = None,
    since: SinceOpt = None,
) -> None:
    """Crawl one job given by URL (the old script's interface), same pipeline."""
    try:
        config = single_job_config(job_url, repo)
        config = apply_overrides(config, Overrides(limit=limit, discovery=discovery, since=since))
        check_horizons(config, time.time())
        options = _options(config, tracker_dir, dry_run, None, verbose, retry_failed=retry_failed)
        seconds = parse_duration(deadline) if deadline else None
    except ConfigError as exc:
        raise _config_error(exc) from None
    raise typer.Exit(execute(config, options, as_json=as_json, deadline=seconds))


@app.command()
def validate(jobs: JobsOpt = Path("jobs.yaml")) -> None:
    """Check the jobs file; exit 0 if it is valid, 2 if not."""
    try:
        config = load_config(jobs)
    except ConfigError as exc:
        raise _config_error(exc) from None
    print(f"{jobs}: OK, {len(config.jobs)} job(s)")
    for j in config.jobs:
        extra = "".join(
            f"  {key}={value}"
            for key, value in (("repo", j.repo), ("since", j.since and j.since.text))
            if value
        )
        print(f"  {j.name}  {j.url.url}{extra}")
        if j.url.ignored:
            print(
                f"    note: {j.url.ignored!r} ignored: it only picks a page of the history; "
                "the whole job is crawled"
            )


@app.command()
def status(jobs: JobsOpt = Path("jobs.yaml"), tracker_dir: TrackerOpt = Path("tracker")) -> None:
    """Per job: builds tracked and the newest tracked build (no network)."""
    try:
        config = load_config(jobs)
    except ConfigError as exc:
        raise _config_error(exc) from None
    problems = False
    for j in config.jobs:
        try:
            count, newest = read_tracker_summary(tracker_dir, j.name)
        except CrawlerError as exc:
            problems = True
            print(f"{j.name}: error: {exc}")
            continue
        try:
            failures = FailureLog(tracker_dir, j.name).load().entries
        except CrawlerError as exc:
            problems = True
            print(f"{j.name}: error: {exc}")
            continue
        newest_text = newest if newest is not None else "-"
        backlog = read_checkpoint(tracker_dir, j.name).backlog
        horizon = j.since.resolve(time.time()).describe() if j.since else "-"
        print(
            f"{j.name}: tracked={count} newest={newest_text} failed={len(failures)} "
            f"backlog={backlog} horizon={horizon}"
        )
        for build_id, f in sorted(failures.items(), key=lambda kv: int(kv[0])):
            gave_up = (
                " (given up; --retry-failed retries it)" if f.attempts >= GIVE_UP_AFTER_RUNS else ""
            )
            print(f"  failed build={build_id} attempts={f.attempts}{gave_up}: {f.reason}")
    raise typer.Exit(1 if problems else 0)


@app.command()
def demo(
    keep: Annotated[
        Path | None, typer.Option("--tracker-dir", help="Keep trackers here (default: temp).")
    ] = None,
    faults: Annotated[
        str | None,
        typer.Option(
            "--faults",
            metavar="SPEC",
            help="Make the sandbox misbehave, e.g. error_rate=0.1,burst429=50x3,reset_rate=0.02"
            " (keys: python -c 'from crawler.sandbox.faults import SPEC_HELP; print(SPEC_HELP)').",
        ),
    ] = None,
) -> None:
    """Run the real crawl against the built-in sandbox (fake deck, GCS emulator, fake Logilica)."""
    from crawler.demo import run_demo
    from crawler.sandbox.faults import Faults

    try:
        chosen = Faults.parse(faults) if faults is not None else None
    except ValueError as exc:
        _stderr().print(f"error: --faults: {exc}", markup=False)
        raise typer.Exit(2) from None
    raise typer.Exit(run_demo(keep, chosen))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
