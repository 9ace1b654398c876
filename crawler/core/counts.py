"""What a run did, as counts: per job (JobCounts, kept by the job's ledger) and for the run
(RunSummary, shown by crawler.output)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
    problems: list[str] = field(default_factory=list)  # of the run, not of one job: exit 1
    feed_requests: int = 0  # of deck's ProwJob feed (counted in requests["deck"] too)
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
        return 1 if self.fault or self.problems or any(j.problem for j in self.jobs) else 0

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
            "problems": self.problems,
            "feed_requests": self.feed_requests,
            "peak_rss_mb": self.peak_rss_mb,
            "loop": self.loop,
            "jobs": [asdict(j) for j in self.jobs],
        }
