"""The final summary a person reads: on an 80-column terminal, and as greppable lines."""

from __future__ import annotations

import io

from rich.console import Console

from crawler.core.counts import JobCounts, RunSummary
from crawler.output.summary import show_summary

LONG = "periodic-ci-openshift-release-master-nightly-4.17-e2e-aws-ovn-serial-ipsec-techpreview-x"


def summary() -> RunSummary:
    jobs = [
        JobCounts(name=LONG, found=12345, new=200, uploaded=199, failed=1, backlog=3),
        JobCounts(name=LONG[:-1] + "y", status="failed", errors=["job history: HTTP 500"]),
    ]
    return RunSummary(jobs=jobs, dry_run=False, seconds=3.25)


def render(terminal: bool, width: int = 80) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=terminal, color_system=None)
    show_summary(summary(), console)
    return out.getvalue()


def test_terminal_table_never_cuts_a_job_name_and_its_counts_fit_80_columns():
    text = render(terminal=True)
    lines = text.splitlines()
    # Names that differ only in their last character stay distinguishable: each is whole.
    assert LONG in lines and LONG[:-1] + "y" in lines
    counts = lines[lines.index(LONG) + 1]
    assert counts.split() == ["ok", "12345", "200", "199", "1", "0", "0", "3"]
    failed = lines[lines.index(LONG[:-1] + "y") + 1]
    assert failed.split()[0] == "failed"
    for line in lines:
        if line not in (LONG, LONG[:-1] + "y") and not line.startswith(("total ", "error ")):
            assert len(line) <= 80, line
    assert "…" not in text


def test_lines_for_logs_carry_the_whole_name_and_every_count():
    text = render(terminal=False)
    assert (
        f"summary job={LONG} status=ok found=12345 new=200 uploaded=199 failed=1 running=0 "
        "deferred=0 backlog=3"
    ) in text
    assert f"error job={LONG[:-1]}y: job history: HTTP 500" in text
    assert "total jobs=2 found=12345 new=200 uploaded=199 failed=1" in text
