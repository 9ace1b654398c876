"""What the user sees: per-job statistics, event lines while running, and the final summary.

Plain text only: the progress bars and the summary table of a terminal are in
crawler/terminal.py, which imports rich (tens of ms a cron run has no use for).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TextIO

from crawler.payload import Payload


@dataclass
class JobCounts:
    """Counts for one job in one run; `status` is ok, failed or locked.

    `attempted` builds were handed to download; each ends uploaded, failed or running, or
    is left unsent by a stop. `unrecorded`: confirmed by Logilica, but the tracker could not
    take its line (a full or read-only disk), so the next run uploads it again.
    `backlog`: finished builds known and not uploaded when the run ended (deferred by the
    limit, failed, cut off by a stop). `discovery`: how builds were found, deck or gcs.
    """

    name: str
    found: int = 0
    new: int = 0
    attempted: int = 0
    uploaded: int = 0
    failed: int = 0
    running: int = 0
    deferred: int = 0
    unrecorded: int = 0
    given_up: int = 0
    backlog: int = 0
    pages: int = 0
    discovery: str = ""
    horizon: str | None = None
    status: str = "ok"
    errors: list[str] = field(default_factory=list)

    @property
    def problem(self) -> bool:
        return self.failed > 0 or self.status == "failed"


@dataclass
class RunSummary:
    jobs: list[JobCounts]
    dry_run: bool
    seconds: float = 0.0
    requests: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    retries_by_service: dict[str, int] = field(default_factory=dict)
    stopped: str | None = None  # why the run stopped early (signal, deadline), if it did
    fault: str | None = None  # the state file that could not be written, what to do
    peak_rss_mb: float | None = None
    loop: str = ""  # the event loop that ran it: uvloop or asyncio

    def totals(self) -> dict[str, int]:
        keys = (
            "found",
            "new",
            "attempted",
            "uploaded",
            "failed",
            "running",
            "deferred",
            "unrecorded",
            "given_up",
            "backlog",
        )
        return {k: sum(getattr(j, k) for j in self.jobs) for k in keys}

    @property
    def exit_code(self) -> int:
        return 1 if self.fault or any(j.problem for j in self.jobs) else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
            "totals": self.totals(),
            "requests": self.requests,
            "retries": self.retries,
            "retries_by_service": self.retries_by_service,
            "stopped": self.stopped,
            "fault": self.fault,
            "peak_rss_mb": self.peak_rss_mb,
            "loop": self.loop,
            "jobs": [asdict(j) for j in self.jobs],
        }


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


def print_summary(summary: RunSummary, console: Console) -> None:
    """The per-job table and totals, always printed at the end of a run."""
    verb = "would upload" if summary.dry_run else "uploaded"
    if console.is_terminal:
        from crawler.terminal import print_table

        print_table(summary, verb, console)
    else:
        for j in summary.jobs:
            console.print(
                f"summary job={j.name} status={j.status} found={j.found} new={j.new} "
                f"{verb.replace(' ', '_')}={j.uploaded} failed={j.failed} running={j.running} "
                f"deferred={j.deferred} backlog={j.backlog}{_unrecorded(j.unrecorded)}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
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
