"""The terminal's view of a run (rich): a live progress bar per job, and the summary table.
Imported only when a person is watching; logs and pipes get crawler.output.report's plain lines."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from crawler.core.counts import JobCounts, RunSummary
from crawler.core.records import Payload
from crawler.output.report import (
    PlainReporter,
    build_line,
    dry_run_line,
    print_totals,
    summary_verb,
)


class RichReporter(PlainReporter):
    """A live progress bar per job on a terminal; messages scroll above the bars."""

    def __init__(self, console: Console, *, per_build: bool = False, verbose: bool = False) -> None:
        super().__init__(console.file, per_build=per_build, dry_out=console.file, verbose=verbose)
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._tasks: dict[str, Any] = {}

    def start(self, jobs: list[JobCounts]) -> None:
        self.progress.start()
        for job in jobs:
            self._tasks[job.name] = self.progress.add_task(
                job.name[:60], total=None, note="walking history"
            )

    def job_discovered(self, job: JobCounts) -> None:
        task = self._tasks[job.name]
        note = f"{job.status}" if job.status != "ok" else f"{job.new} new, {job.running} running"
        self.progress.update(task, total=max(job.attempted, 0) or 0, note=note)

    def job_skipped(self, job: JobCounts, reason: str) -> None:
        super().job_skipped(job, reason)
        self.job_discovered(job)

    def job_failed(self, job: JobCounts, message: str) -> None:
        super().job_failed(job, message)
        self.job_discovered(job)

    def build_done(self, job: JobCounts, build_id: str, outcome: str, reason: str = "") -> None:
        self.progress.advance(self._tasks[job.name])
        if outcome == "failed" or self.per_build:
            self.message(build_line(job, build_id, outcome, reason))

    def would_upload(self, job: JobCounts, build_id: str, payload: Payload) -> None:
        self.progress.advance(self._tasks[job.name])
        self.message(dry_run_line(job, build_id, payload, self.verbose))

    def message(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)

    def stop(self) -> None:
        self.progress.stop()


_COUNTS = ("found", "new", "uploaded", "failed", "running", "deferred", "backlog")


def print_summary(summary: RunSummary, console: Console) -> None:
    """The end of a run on a terminal: the per-job table, then the totals and errors."""
    print_table(summary, summary_verb(summary), console)
    print_totals(summary, console)


def print_table(summary: RunSummary, verb: str, console: Console) -> None:
    """Each job's name on a line of its own, whole however long (real job names run to 90
    characters), then its counts on a line that fits 80 columns."""
    title = f"prow-crawler {'dry run ' if summary.dry_run else ''}summary"
    heads = [verb if c == "uploaded" else c for c in _COUNTS]
    widths = [max(len(h), 5) for h in heads]
    console.print(title, style="bold", markup=False, highlight=False)
    header = "  status  " + " ".join(h.rjust(w) for h, w in zip(heads, widths, strict=True))
    console.print(header, style="dim", markup=False, highlight=False)
    for j in summary.jobs:
        console.print(j.name, style="bold", markup=False, highlight=False, soft_wrap=True)
        values = [str(getattr(j, c)) for c in _COUNTS]
        row = " ".join(v.rjust(w) for v, w in zip(values, widths, strict=True))
        style = "red" if j.problem else None
        console.print(f"  {j.status:<7} {row}", style=style, markup=False, highlight=False)
