"""`prow-crawler jobs`: the job list a run would cover, match items expanded against deck's
feed (read once per deck host); nothing is written."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp

from crawler.core.jobs import Config, JobSpec, RunOptions
from crawler.net.retry import RetryStats
from crawler.pipeline.jobset import JobSet, resolve
from crawler.prow.deck import DeckClient


async def _resolve(config: Config, tracker_dir: Path) -> JobSet:
    options = RunOptions(tracker_dir=tracker_dir, dry_run=True)
    timeout = aiohttp.ClientTimeout(total=config.limits.timeout)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        return await resolve(DeckClient(session, config.limits, RetryStats()), config, options)


def _kind(job: JobSpec, jobset: JobSet) -> str:
    feed = jobset.feeds.get(job.url.base)
    builds = feed.builds(job.url.job) if feed is not None else ()
    if builds:
        return builds[0].type
    return "presubmit" if job.url.presubmit else "-"


def show_jobs(config: Config, tracker_dir: Path, *, as_json: bool) -> int:
    """Print the resolved jobs; the exit status: 1 when a match item matched no job."""
    jobset = asyncio.run(_resolve(config, tracker_dir))
    rows = [
        {
            "name": j.name,
            "type": _kind(j, jobset),
            "bucket": j.url.bucket,
            "url": j.url.url,
            "from": jobset.origins.get(j.name, "url"),
        }
        for j in jobset.config.jobs
    ]
    if as_json:
        doc = {"jobs": rows, "problems": jobset.problems, "notes": jobset.notes}
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for note in jobset.notes:
            print(note, file=sys.stderr)
        for row in rows:
            print(f"{row['name']}  {row['type']}  {row['bucket']}  {row['url']}  ({row['from']})")
        for problem in jobset.problems:
            print(f"error: {problem}", file=sys.stderr)
    return 1 if jobset.problems else 0
