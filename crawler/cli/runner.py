"""One run from start to exit status: the pipeline under signal handlers and a deadline, the
summary, the metrics. Imported only by the commands that crawl (it pulls in aiohttp)."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import TextIO

from crawler.core.counts import RunSummary
from crawler.core.jobs import Config, RunOptions
from crawler.output.metrics import publish
from crawler.output.report import (
    Console,
    LineConsole,
    PlainReporter,
    Reporter,
    dump_json,
    peak_rss_mb,
)
from crawler.output.summary import show_summary
from crawler.pipeline import Pipeline

# Allocations between young-generation collections, and the ratios for the older two
# (Python's defaults: 700, 10, 10).
GC_THRESHOLDS = (10_000, 20, 100)


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop (less CPU per request) unless the standard loop is asked for, or uvloop is not
    installed (`auto`); RunOptions.loop has been checked (config.loop_from_env)."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _console(out: TextIO) -> Console:
    """rich on a terminal (imported only then: a cron run never pays for it), else lines."""
    if not out.isatty():
        return LineConsole(out)
    from rich.console import Console as RichConsole

    return RichConsole(file=out, highlight=False, soft_wrap=True)


def _reporter(verbose: bool, as_json: bool) -> Reporter:
    if sys.stderr.isatty() and sys.stdout.isatty() and not as_json:
        from crawler.output.terminal import RichReporter

        return RichReporter(_console(sys.stderr), per_build=verbose, verbose=verbose)
    # With --json, stdout carries the JSON document alone: dry-run lines go to stderr.
    dry_out = sys.stderr if as_json else None
    return PlainReporter(sys.stderr, per_build=True, dry_out=dry_out, verbose=verbose)


def execute(
    config: Config,
    options: RunOptions,
    *,
    as_json: bool,
    deadline: float | None = None,
    instance: str = "all",
) -> int:
    """Run the pipeline, print the summary, write the metrics, return the exit status.

    SIGINT/SIGTERM stop the run cleanly (uploads in flight finish, exit 130/143); a second
    signal exits at once: tracker lines are whole-line writes, so the files stay valid.
    """
    began = time.monotonic()
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
        summary = await pipeline.run()
        summary.loop = type(loop).__module__.split(".")[0]  # uvloop or asyncio
        return summary

    def report(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    # What start-up made (modules, classes, the parsed config) lives as long as the run: keep
    # the cycle collector from scanning it again at every full collection, and let it run
    # less often (a run allocates many short-lived dicts, few cycles). 4 % less CPU per build.
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        with asyncio.Runner(loop_factory=loop_factory(options.loop)) as runner:
            summary = runner.run(main())
    except Exception as exc:  # a bug: say so in one line; trackers are whole-line writes
        report(
            f"prow-crawler: internal error: {type(exc).__name__}: {exc} "
            "(please report it; tracker files are intact, a rerun is safe)"
        )
        summary = pipeline.summary(time.monotonic() - began)
        publish(
            pipeline.jobset.config,  # the jobs the run covered, match items expanded
            summary,
            tracker_dir=options.tracker_dir,
            exit_code=1,
            instance=instance,
            report=report,
        )
        return 1
    summary.peak_rss_mb = peak_rss_mb()
    if as_json:
        show_summary(summary, _console(sys.stderr))
        dump_json(summary, sys.stdout)
    else:
        show_summary(summary, _console(sys.stdout))
    code = signalled[0] if signalled else summary.exit_code
    publish(
        pipeline.jobset.config,  # the jobs the run covered, match items expanded
        summary,
        tracker_dir=options.tracker_dir,
        exit_code=code,
        instance=instance,
        report=report,
    )
    return code
