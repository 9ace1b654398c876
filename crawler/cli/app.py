"""The `prow-crawler` command line: options -> settings -> a run -> exit status.

Exit status: 0 every attempted build uploaded (or nothing new); 1 a build or job failed;
2 usage or configuration error, found before any network request. Heavy modules (aiohttp,
the pipeline, rich, the sandbox) are imported by the commands that use them, so `--help` and
`validate` answer at once.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crawler.core.errors import ConfigError
from crawler.settings.flags import (
    DeadlineOpt,
    DiscoveryOpt,
    DryRunOpt,
    JobsOpt,
    JsonOpt,
    LimitOpt,
    MetricsFileOpt,
    NoFeedOpt,
    PushgatewayOpt,
    RetryFailedOpt,
    SinceOpt,
    TrackerOpt,
    VerboseOpt,
    WaitLockOpt,
)

if TYPE_CHECKING:
    from crawler.core.jobs import Config

app = typer.Typer(
    help="Record finished Prow (OpenShift CI) builds in Logilica, for every job in jobs.yaml.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help and usage errors: rendering them with rich costs more than the rest of
    # start-up (0.16 s on a 2-core CI machine).
    rich_markup_mode=None,
)


def _error(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _config_error(exc: ConfigError) -> typer.Exit:
    _error(f"error: {exc}")
    return typer.Exit(2)


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
    metrics_file: MetricsFileOpt = None,
    pushgateway: PushgatewayOpt = None,
    deck_concurrency: Annotated[int | None, typer.Option(min=1)] = None,
    deck_rps: Annotated[float | None, typer.Option(min=0.001)] = None,
    gcs_concurrency: Annotated[int | None, typer.Option(min=1)] = None,
    logilica_concurrency: Annotated[int | None, typer.Option(min=1)] = None,
    logilica_rps: Annotated[float | None, typer.Option(min=0.001)] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Builds per POST.")] = None,
    timeout: Annotated[float | None, typer.Option(min=0.1, help="Seconds per request.")] = None,
    no_feed: NoFeedOpt = False,
) -> None:
    """Crawl every job in the jobs file and upload newly finished builds."""
    from crawler.settings import config as cfg
    from crawler.settings import jobsfile

    try:
        config = cfg.select_jobs(jobsfile.load_config(jobs), job, shard)
        overrides = cfg.Overrides(limit, discovery, since, metrics_file, pushgateway)
        config = cfg.apply_overrides(config, overrides)
        cfg.check_horizons(config, time.time())
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
        options = cfg.run_options(
            config,
            tracker_dir,
            dry_run,
            max_pages,
            verbose,
            retry_failed=retry_failed,
            wait_lock=wait_lock,
            feed=not no_feed,
        )
        seconds = cfg.parse_duration(deadline) if deadline else None
    except ConfigError as exc:
        raise _config_error(exc) from None
    from crawler.cli.runner import execute
    from crawler.output.metrics import instance_of

    code = execute(config, options, as_json=as_json, deadline=seconds, instance=instance_of(shard))
    raise typer.Exit(code)


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
    metrics_file: MetricsFileOpt = None,
    pushgateway: PushgatewayOpt = None,
    no_feed: NoFeedOpt = False,
) -> None:
    """Crawl one job given by URL (the old script's interface), same pipeline."""
    from crawler.settings import config as cfg

    try:
        config = cfg.single_job_config(job_url, repo)
        overrides = cfg.Overrides(limit, discovery, since, metrics_file, pushgateway)
        config = cfg.apply_overrides(config, overrides)
        cfg.check_horizons(config, time.time())
        options = cfg.run_options(
            config, tracker_dir, dry_run, None, verbose, retry_failed=retry_failed, feed=not no_feed
        )
        seconds = cfg.parse_duration(deadline) if deadline else None
    except ConfigError as exc:
        raise _config_error(exc) from None
    from crawler.cli.runner import execute

    raise typer.Exit(execute(config, options, as_json=as_json, deadline=seconds))


@app.command()
def validate(jobs: JobsOpt = Path("jobs.yaml")) -> None:
    """Check the jobs file; exit 0 if it is valid, 2 if not."""
    from crawler.settings import jobsfile

    try:
        config = jobsfile.load_config(jobs)
    except ConfigError as exc:
        raise _config_error(exc) from None
    matched = f" and {len(config.matches)} match item(s)" if config.matches else ""
    print(f"{jobs}: OK, {len(config.jobs)} job(s){matched}")
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
    for m in config.matches:
        print(f"  {m.rule.describe()}  (expanded at run time from {config.prow}/prowjobs.js)")


@app.command("jobs")
def list_jobs(
    jobs: JobsOpt = Path("jobs.yaml"),
    tracker_dir: TrackerOpt = Path("tracker"),
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON document on stdout instead of lines.")
    ] = False,
) -> None:
    """The resolved job list (match items expanded against deck's feed, read once): name,
    type, bucket, job-history URL and the item it came from. Exit 1 if an item matches no job."""
    from crawler.settings import jobsfile

    try:
        config = jobsfile.load_config(jobs)
    except ConfigError as exc:
        raise _config_error(exc) from None
    from crawler.cli.joblist import show_jobs

    raise typer.Exit(show_jobs(config, tracker_dir, as_json=as_json))


@app.command()
def status(
    jobs: JobsOpt = Path("jobs.yaml"),
    tracker_dir: TrackerOpt = Path("tracker"),
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON document on stdout instead of lines.")
    ] = False,
    metrics_file: Annotated[
        Path | None,
        typer.Option(
            "--metrics-file",
            help="Also refresh the job gauges in this Prometheus metrics file (keeping the "
            "last run's own gauges in it).",
        ),
    ] = None,
) -> None:
    """Per job, from the files alone (no network): builds tracked, the newest and its age,
    backlog, lag, failures and horizon. Exit 1 if a job's files cannot be read."""
    from crawler.output import status as standing_of
    from crawler.settings import jobsfile

    try:
        config = jobsfile.load_config(jobs)
    except ConfigError as exc:
        raise _config_error(exc) from None
    if config.matches:  # the jobs the match items stood for in earlier runs
        from crawler.settings.patterns import resolve_jobs
        from crawler.state.matchstore import MatchStoreError, load_matches

        try:
            config = resolve_jobs(config, None, load_matches(tracker_dir)).config
        except MatchStoreError as exc:
            _error(f"error: {exc}")
            raise typer.Exit(1) from None
    now = time.time()
    standing = standing_of.read_standing(config, tracker_dir, now)
    if as_json:
        standing_of.dump_json(standing, now, sys.stdout)
    else:
        standing_of.print_lines(standing, now, sys.stdout)
    if metrics_file is not None:
        try:
            standing_of.write_metrics(standing, metrics_file)
        except OSError as exc:
            _error(f"error: cannot write {metrics_file}: {exc}")
            raise typer.Exit(1) from None
    raise typer.Exit(1 if standing.errors else 0)


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
            " (keys: python -c"
            " 'from crawler.sandbox.faultspec import SPEC_HELP; print(SPEC_HELP)').",
        ),
    ] = None,
) -> None:
    """Run the real crawl against the built-in sandbox (fake deck, GCS emulator, fake Logilica)."""
    from crawler.cli.demo import run_demo
    from crawler.sandbox.faults import Faults

    try:
        chosen = Faults.parse(faults) if faults is not None else None
    except ValueError as exc:
        _error(f"error: --faults: {exc}")
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
