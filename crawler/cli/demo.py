"""`prow-crawler demo`: the real crawl against the built-in sandbox, twice, then a check.

The first pass must upload every finished sandbox build exactly once; the second must upload
none. Exit 0 when both hold, 1 otherwise, so the demo doubles as a smoke test.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from crawler.core.counts import RunSummary
from crawler.core.jobs import RunOptions
from crawler.core.secret import Secret
from crawler.output.report import PlainReporter
from crawler.output.summary import show_summary
from crawler.pipeline import Pipeline
from crawler.settings.config import Overrides, apply_overrides
from crawler.settings.jobsfile import load_config


def _pass(config_path: Path, tracker_dir: Path, sandbox: object, label: str) -> RunSummary:
    from crawler.sandbox import Sandbox

    assert isinstance(sandbox, Sandbox)
    config = apply_overrides(load_config(config_path), Overrides(limit=0))
    options = RunOptions(
        tracker_dir=tracker_dir,
        gcs_api_root=sandbox.gcs_url,
        token=Secret(sandbox.token),
        domain=sandbox.domain,
        api_url=sandbox.logilica_url,
    )
    console = Console(highlight=False, soft_wrap=True)
    console.rule(label)
    reporter = PlainReporter(sys.stdout, per_build=False)
    summary = asyncio.run(Pipeline(config, options, reporter).run())
    show_summary(summary, console)
    return summary


def run_demo(tracker_dir: Path | None, faults: object = None) -> int:
    """Start the sandbox, crawl it twice, show what Logilica received; 0 if all as expected.

    With `faults` (a sandbox Faults) the sandbox misbehaves; the first pass may then leave
    builds for the second, so the check is: after both passes every finished build was
    uploaded, none twice.
    """
    from crawler.sandbox import Faults, Sandbox

    assert faults is None or isinstance(faults, Faults)
    console = Console(highlight=False, soft_wrap=True)
    began = time.monotonic()
    try:
        sandbox = Sandbox(faults=faults)
    except ValueError as exc:  # faults naming jobs the sandbox does not have
        Console(stderr=True).print(f"error: --faults: {exc}", markup=False)
        return 2
    with tempfile.TemporaryDirectory(prefix="prow-crawler-demo-") as tmp, sandbox:
        trackers = tracker_dir or Path(tmp) / "tracker"
        jobs_file = _with_match_item(sandbox, sandbox.write_jobs_yaml(Path(tmp) / "jobs.yaml"))
        console.print(
            f"sandbox: deck {sandbox.deck_url}, GCS emulator {sandbox.gcs_url}, "
            f"Logilica {sandbox.logilica_url}"
        )
        console.print(f"jobs file {jobs_file}, trackers in {trackers}")
        console.print(
            f"one item by pattern: match {_MATCH} (expanded from deck's /prowjobs.js feed; the "
            "second pass reads that feed instead of each job's page)",
            markup=False,
        )
        if faults is not None:
            console.print(f"faults: {faults.describe()}", markup=False)
        first = _pass(jobs_file, trackers, sandbox, "first pass: backfill")
        after_first = sandbox.recorder.count_by_id()
        label = "second pass: catch up" if faults else "second pass: nothing new expected"
        second = _pass(jobs_file, trackers, sandbox, label)
        after_second = sandbox.recorder.count_by_id()

        expected = Counter(b.id for b in sandbox.world.finished_builds())
        _show_received(console, sandbox)
        problems = []
        if faults is not None:
            if after_second != expected:
                missing = sorted(set(expected) - set(after_second))
                extra = sorted(k for k, v in after_second.items() if v != expected.get(k))
                problems.append(
                    f"after 2 passes: missing {missing[:5]}, uploaded twice or wrongly {extra[:5]}"
                )
            if second.exit_code:
                problems.append(f"second pass exit code {second.exit_code}")
            console.print(
                f"faults injected: {dict(faults.injected())}; retries "
                f"{first.retries} in pass 1, {second.retries} in pass 2"
            )
        elif after_first != expected:
            missing = sorted(set(expected) - set(after_first))
            extra = sorted(k for k, v in after_first.items() if v != expected.get(k))
            problems.append(f"first pass: missing {missing[:5]}, wrong counts {extra[:5]}")
        if faults is None and after_second != after_first:
            problems.append("second pass uploaded builds again")
        if faults is None and (first.exit_code or second.exit_code):
            problems.append(f"exit codes {first.exit_code}, {second.exit_code}")
        console.print(
            f"demo: {sum(expected.values())} finished builds in the sandbox; uploaded "
            f"{sum(after_first.values())} in pass 1 and "
            f"{sum(after_second.values()) - sum(after_first.values())} in pass 2; "
            f"{time.monotonic() - began:.1f} s"
        )
        for p in problems:
            console.print(f"demo problem: {p}", style="red")
        if not problems:
            console.print("demo OK: every finished build uploaded exactly once", style="green")
        return 1 if problems else 0


# The demo lists one job by pattern: every presubmit of openshift/console that deck's feed
# shows (the sandbox has one), instead of its URL.
_MATCH = {"job": "pull-ci-openshift-console-*", "type": "presubmit", "repo": "openshift/console"}


def _with_match_item(sandbox: object, jobs_file: Path) -> Path:
    """The sandbox's jobs file with the URL items of the jobs _MATCH stands for replaced by
    that one `match:` item."""
    import yaml

    from crawler.sandbox import Sandbox

    assert isinstance(sandbox, Sandbox)
    doc = yaml.safe_load(jobs_file.read_text())
    urls = {u: n for n, u in sandbox.job_urls().items()}
    prefix = _MATCH["job"].rstrip("*")
    kept = [i for i in doc["jobs"] if not urls.get(i["url"], "").startswith(prefix)]
    doc["jobs"] = [*kept, {"match": dict(_MATCH)}]
    jobs_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    return jobs_file


def _show_received(console: Console, sandbox: object) -> None:
    from crawler.sandbox import Sandbox

    assert isinstance(sandbox, Sandbox)
    names = {r["id"]: r["name"] for r in sandbox.world.repositories}
    per_repo: dict[str, Counter[str]] = {}
    example = None
    for repo_id, build in sandbox.recorder.received():
        c = per_repo.setdefault(names.get(repo_id, repo_id), Counter())
        c["builds"] += 1
        c[build["conclusion"]] += 1
        c["with PR"] += bool(build["pullRequestUrls"])
        steps = ":" in build["stages"][0]["id"]  # step stages are BUILD:STEP
        c["with steps"] += steps
        if steps and example is None and build["conclusion"] == "Failure":
            example = build
    _print_received(console, per_repo)
    if example is not None:
        # The job's name on a line of its own: with the build ID it would not fit 80 columns.
        console.print(f"stages of build {example['originalID']}, Failure, of", markup=False)
        console.print(f"{example['name']}:", markup=False, soft_wrap=False, overflow="fold")
        for stage in example["stages"]:
            console.print(f"  {_stage_line(stage)}", markup=False)
            if len(stage["jobs"]) > 1:
                for job in stage["jobs"]:
                    console.print(f"      {_stage_line(job)}", markup=False)


_TITLE = "What the fake Logilica received"
# What is counted per repository -> its header, short so that the repository column keeps the
# width of its longest name at 80 columns.
_COUNTED = {
    "builds": "builds",
    "Success": "ok",
    "Failure": "fail",
    "Cancelled": "cancel",
    "with PR": "PR",
    "with steps": "steps",
}


def _print_received(console: Console, per_repo: dict[str, Counter[str]]) -> None:
    """A row per repository, its name whole in the first column. Where names and counts
    cannot share a line, each name goes on a line of its own above its counts (as in the
    per-job summary, crawler.output.terminal) and is folded only if wider than the terminal."""
    rows = sorted(per_repo.items())
    table = Table(title=_TITLE, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("repository", no_wrap=True)
    for head in _COUNTED.values():
        table.add_column(head, justify="right", no_wrap=True)
    for name, c in rows:
        table.add_row(name, *(str(c[k]) for k in _COUNTED))
    natural = console.measure(table, options=console.options.update_width(10_000))
    if natural.maximum <= console.width:
        console.print(table)
        return
    width = {k: max([len(h), *(len(str(c[k])) for _, c in rows)]) for k, h in _COUNTED.items()}
    console.print(_TITLE, style="bold", markup=False)
    heads = " ".join(h.rjust(width[k]) for k, h in _COUNTED.items())
    console.print(f"  {heads}", style="dim", markup=False)
    for name, c in rows:
        console.print(name, style="bold", markup=False, soft_wrap=False, overflow="fold")
        console.print("  " + " ".join(str(c[k]).rjust(width[k]) for k in _COUNTED))


def _stage_line(item: dict) -> str:
    minutes = (item["completedAt"] - item["startedAt"]) // 60
    return f"{item['name']:<40} {minutes:>4} min  {item['conclusion']}"
