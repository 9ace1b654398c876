"""Jobs by pattern: the rules of `match:` items and their expansion, each run, against deck's
ProwJob feed and the jobs each rule matched in earlier runs. Pure: no file or network access.
Syntax checks: crawler/settings/matchcheck.py; remembered jobs: crawler/state/matchstore.py.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Generic
from urllib.parse import urlsplit

from crawler.core.builds import JobURL, parse_job_url, validate_job_name
from crawler.core.jobs import Config
from crawler.core.matching import DEFAULT_PROW, PR_TYPES, Build, MatchItem, MatchRule, S
from crawler.settings.config import parse_shard, shard_of


def default_prow_base(urls: Iterable[JobURL | str]) -> str:
    """Without `prow:`: the deck of the `url:` jobs when they all share one, else OpenShift's."""
    bases = {u.base if isinstance(u, JobURL) else _base(u) for u in urls}
    return bases.pop() if len(bases) == 1 else DEFAULT_PROW


def _base(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}"


# -- expansion (each run) ---------------------------------------------------------------------


def history_url(prow_base: str, job: str, type: str, bucket: str) -> str:
    """Deck's job-history page of a job: pr-logs/directory for presubmits and batches."""
    prefix = "pr-logs/directory" if type in PR_TYPES else "logs"
    return f"{prow_base.rstrip('/')}/job-history/gs/{bucket}/{prefix}/{job}"


@dataclass(frozen=True)
class ExpandedJob(Generic[S]):
    name: str
    url: JobURL
    item: MatchItem[S]
    from_feed: bool  # False: remembered from an earlier run, absent from the feed now

    @property
    def settings(self) -> S:
        return self.item.settings


@dataclass(frozen=True)
class Expansion(Generic[S]):
    """The jobs match items stand for, in file order; the rules that stand for none; and
    what to remember (matchstore.save_matches) for the next run."""

    jobs: tuple[ExpandedJob[S], ...]
    unmatched: tuple[MatchRule, ...]
    remembered: dict[str, dict[str, str]]

    @property
    def messages(self) -> list[str]:
        return [f"{rule.describe()} matched no job" for rule in self.unmatched]


def newest_builds(jobs: Mapping[str, Sequence[Build]]) -> dict[str, Build]:
    """Feed.jobs (job -> builds, newest first) -> job -> its newest build, for `expand`."""
    return {job: builds[0] for job, builds in jobs.items() if builds}


def _job_url(url: str, job: str) -> JobURL | None:
    try:
        parsed = parse_job_url(url)
    except ValueError:
        return None
    return parsed if parsed.job == job else None


def expand(
    items: Sequence[MatchItem[S]],
    explicit: Collection[str],
    builds: Mapping[str, Build] | None,
    remembered: Mapping[str, Mapping[str, str]],
    *,
    prow: str,
) -> Expansion[S]:
    """Each rule stands for the feed's jobs it matches plus those it matched before (a job
    that paused stays crawled). `explicit`: names and URL jobs of the `url:` items, which
    win; between match items the first wins. `builds` is None when the feed is unreadable.

    A remembered job keeps its URL unless the feed has it (then its newest build's bucket);
    it is kept while its name passes the glob and excludes, even if its type or repository
    no longer does. Rules no longer in the file keep their entries (another jobs file may
    share the tracker directory).
    """
    out = {key: dict(jobs) for key, jobs in remembered.items()}
    claimed = set(explicit)
    jobs: list[ExpandedJob[S]] = []
    unmatched: list[MatchRule] = []
    for item in items:
        rule = item.rule
        found: dict[str, JobURL] = {}
        for name, url in remembered.get(rule.key, {}).items():
            parsed = _job_url(url, name) if rule.admits(name) else None
            if parsed is not None:
                found[name] = parsed
        seen: set[str] = set()
        for build in (builds or {}).values():
            if build.job not in found and not rule.matches(build):
                continue
            try:
                validate_job_name(build.job)
            except ValueError:
                continue
            parsed = _job_url(history_url(prow, build.job, build.type, build.bucket), build.job)
            if parsed is not None:
                found[build.job] = parsed
                seen.add(build.job)
        if not found:
            unmatched.append(rule)
            continue
        out[rule.key] = {name: found[name].url for name in sorted(found)}
        for name in sorted(found):
            if name not in claimed:
                claimed.add(name)
                jobs.append(ExpandedJob(name, found[name], item, from_feed=name in seen))
    return Expansion(tuple(jobs), tuple(unmatched), out)


@dataclass(frozen=True)
class Resolved:
    """A run's job list once the `match:` items are expanded: the config with every job it
    covers (after --job and --shard), what went wrong (the run exits 1 for each, the other jobs
    still run), what to remember, and which item each job came from."""

    config: Config
    problems: tuple[str, ...]
    remembered: dict[str, dict[str, str]]
    origins: dict[str, str]


def resolve_jobs(
    config: Config,
    builds: Mapping[str, Build] | None,
    remembered: Mapping[str, Mapping[str, str]],
) -> Resolved:
    """The `url:` jobs and the jobs the match items stand for (see expand); `builds`: each
    job's newest build in deck's feed at `config.prow`, None when the feed was not read."""
    explicit = {j.name for j in config.jobs} | {j.url.job for j in config.jobs}
    expansion = expand(config.matches, explicit, builds, remembered, prow=config.prow)
    origins = {j.name: "url" for j in config.jobs}
    jobs = list(config.jobs)
    for e in expansion.jobs:
        jobs.append(e.settings.job(e.name, e.url))
        origins[e.name] = e.item.rule.describe()
    problems = list(expansion.messages)
    if config.only is not None:
        known = {j.name for j in jobs}
        missing = [n for n in config.only if n not in known]
        problems += [
            f"--job {n}: no such job (not in the file, matched by no item)" for n in missing
        ]
        jobs = [j for j in jobs if j.name in set(config.only)]
    if config.shard:
        index, count = parse_shard(config.shard)
        jobs = [j for j in jobs if shard_of(j.name, count) == index]
    resolved = replace(config, jobs=jobs, matches=(), only=None, shard=None)
    return Resolved(resolved, tuple(problems), expansion.remembered, origins)
