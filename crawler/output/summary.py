"""The end of a run, shown where it goes: the table on a terminal (rich, imported only then),
greppable lines in logs and pipes."""

from __future__ import annotations

from crawler.core.counts import RunSummary
from crawler.output.report import Console, print_summary


def show_summary(summary: RunSummary, console: Console) -> None:
    """The per-job table or lines, then the totals and errors: printed at the end of every run."""
    if console.is_terminal:
        from crawler.output.terminal import print_summary as print_table_summary

        print_table_summary(summary, console)
    else:
        print_summary(summary, console)
