"""What the user sees: per-job statistics, event lines while running, and the final summary.

Plain text only: the progress bars and the summary table of a terminal are in
crawler/output/terminal.py, which imports rich (tens of ms a cron run has no use for).
"""

from __future__ import annotations

import json
import sys
from typing import Any, Protocol, TextIO

from crawler.core.counts import JobCounts, RunSummary
from crawler.core.records import Payload


class Reporter(Protocol):
    """Receives what happens in a run, as data; implementations decide how to show it."""

    def start(self, jobs: list[JobCounts]) -> None: ...
    def job_discovered(self, job: JobCounts) -> None: ...
    def job_skipped(self, job: JobCounts, reason: str) -> None: ...
    def job_failed(self, job: JobCounts, message: str) -> None: ...
    def job_note(self, job: JobCounts, kind: str, text: str) -> None: ...
    def build_done(self, job: JobCounts, build_id: str, outcome: str, reason: str = "") -> None: ...
    def would_upload(self, job: JobCounts, build_id: str, payload: Payload) -> None: ...
    def message(self, text: str) -> None: ...
    def stop(self) -> None: ...


def build_line(job: JobCounts, build_id: str, outcome: str, reason: str = "") -> str:
    """`uploaded job=J build=B`, `running job=J build=B`, `failed job=J build=B: reason`."""
    line = f"{outcome} job={job.name} build={build_id}"
    return f"{line}: {reason}" if reason else line


def dry_run_line(job: JobCounts, build_id: str, payload: Payload, verbose: bool) -> str:
    """What a dry run shows for a build it would upload; the whole object when verbose."""
    b = payload.body
    line = (
        f"would-upload job={job.name} build={build_id} "
        f"conclusion={b['conclusion']} repo={payload.repo} commit={b['commit']} "
        f"started={b['startedAt']} completed={b['completedAt']}"
    )
    if verbose:
        line += "\n" + json.dumps(b, indent=2, sort_keys=True)
    return line


class PlainReporter:
    """Greppable lines for cron and logs: one per event, `key=value` fields."""

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        per_build: bool = True,
        dry_out: TextIO | None = None,
        verbose: bool = False,
    ) -> None:
        self.out = out or sys.stderr
        self.dry_out = dry_out or sys.stdout
        self.per_build = per_build
        self.verbose = verbose

    def start(self, jobs: list[JobCounts]) -> None:
        self._print(f"start jobs={len(jobs)}")

    def job_discovered(self, job: JobCounts) -> None:
        if job.status == "ok":
            self._print(
                f"discovered job={job.name} via={job.discovery} pages={job.pages} "
                f"found={job.found} new={job.new} running={job.running} deferred={job.deferred}"
            )

    def job_skipped(self, job: JobCounts, reason: str) -> None:
        self.message(f"skipped job={job.name}: {reason}")

    def job_failed(self, job: JobCounts, message: str) -> None:
        self.message(f"failed job={job.name}: {message}")

    def job_note(self, job: JobCounts, kind: str, text: str) -> None:
        self.message(f"{kind} job={job.name}: {text}")

    def build_done(self, job: JobCounts, build_id: str, outcome: str, reason: str = "") -> None:
        if self.per_build or outcome == "failed":
            self._print(build_line(job, build_id, outcome, reason))

    def would_upload(self, job: JobCounts, build_id: str, payload: Payload) -> None:
        """Dry-run lines are the product of a dry run: they go to stdout."""
        print(dry_run_line(job, build_id, payload, self.verbose), file=self.dry_out, flush=True)

    def message(self, text: str) -> None:
        self._print(text)

    def stop(self) -> None:
        self.out.flush()

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)


class Console(Protocol):
    """Where the summary goes: a rich Console on a terminal, a LineConsole otherwise."""

    @property
    def is_terminal(self) -> bool: ...
    def print(self, text: str, **style: Any) -> None: ...


class LineConsole:
    """A Console for logs and pipes: each text on a line of its own, styles ignored."""

    is_terminal = False

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def print(self, text: str, **style: Any) -> None:
        print(text, file=self.out, flush=True)


def summary_verb(summary: RunSummary) -> str:
    return "would upload" if summary.dry_run else "uploaded"


def print_summary(summary: RunSummary, console: Console) -> None:
    """A line per job, then the totals and errors: the end of a run in logs and pipes (a
    terminal gets crawler.output.terminal.print_summary)."""
    verb = summary_verb(summary)
    for j in summary.jobs:
        console.print(
            f"summary job={j.name} status={j.status} found={j.found} new={j.new} "
            f"{verb.replace(' ', '_')}={j.uploaded} failed={j.failed} running={j.running} "
            f"deferred={j.deferred} backlog={j.backlog}{_unrecorded(j.unrecorded)}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    print_totals(summary, console)


def print_totals(summary: RunSummary, console: Console) -> None:
    """The totals line, each job's errors and a disk fault's line, on any console."""
    verb = summary_verb(summary)
    t = summary.totals()
    console.print(
        f"total jobs={len(summary.jobs)} found={t['found']} new={t['new']} "
        f"{verb.replace(' ', '_')}={t['uploaded']} failed={t['failed']} running={t['running']} "
        f"deferred={t['deferred']} backlog={t['backlog']}{_unrecorded(t['unrecorded'])} "
        f"seconds={summary.seconds:.1f}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for j in summary.jobs:
        for err in j.errors[:20]:
            console.print(
                f"error job={j.name}: {err}", markup=False, highlight=False, soft_wrap=True
            )
        if len(j.errors) > 20:
            console.print(
                f"error job={j.name}: ... and {len(j.errors) - 20} more",
                markup=False,
                highlight=False,
            )
    for problem in summary.problems:
        console.print(f"error: {problem}", markup=False, highlight=False, soft_wrap=True)
    if summary.fault:
        console.print(summary.fault, markup=False, highlight=False, soft_wrap=True)


def _unrecorded(count: int) -> str:
    """The field only when a disk fault left some: the lines stay as they were otherwise."""
    return f" unrecorded={count}" if count else ""


def dump_json(summary: RunSummary, out: TextIO) -> None:
    json.dump(summary.to_json(), out, indent=2)
    out.write("\n")


def peak_rss_mb() -> float | None:
    """This process's peak resident memory (VmHWM), or None where /proc is not there.

    Not getrusage(): its ru_maxrss survives execve, so a child forked from a big parent
    reports the parent's size.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None
