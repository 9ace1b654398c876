"""Test data for the unit tests: job specs, build refs, deck pages and GCS contents, and
small fakes of the deck and GCS clients (the same verbs, served from memory)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from crawler.config import JobSpec
from crawler.errors import RemoteError
from crawler.gcs import Listing
from crawler.horizon import SNOWFLAKE_EPOCH_MS
from crawler.payload import Artifacts
from crawler.prow import BuildRef, HistoryPage, parse_job_url

DECK = "http://deck.test"
BUCKET = "test-platform-results"
SHA = "0123456789abcdef0123456789abcdef01234567"


def job_spec(
    name: str = "j", *, presubmit: bool = False, bucket: str = BUCKET, **kw: Any
) -> JobSpec:
    """A JobSpec for a job on the fake deck (periodic unless `presubmit`)."""
    kind = "pr-logs/directory" if presubmit else "logs"
    url = parse_job_url(f"{DECK}/job-history/gs/{bucket}/{kind}/{name}")
    return JobSpec(name=name, url=url, **kw)


def snowflake_at(epoch_seconds: float, seq: int = 0) -> int:
    """A Prow build ID minted at this moment."""
    return ((int(epoch_seconds * 1000) - SNOWFLAKE_EPOCH_MS) << 22) | seq


def rfc3339(epoch: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def build_ref(
    build_id: int | str,
    *,
    job: str = "j",
    bucket: str = BUCKET,
    result: str = "SUCCESS",
    started: str = "2026-07-30T09:00:00Z",
    **kw: Any,
) -> BuildRef:
    return BuildRef(
        id=str(build_id),
        bucket=bucket,
        path=f"logs/{job}/{build_id}",
        result=result,
        started=started,
        **kw,
    )


def artifacts(started_at: int = 1753861234, finished_at: int = 1753865012, **kw: Any) -> Artifacts:
    return Artifacts(
        started={"timestamp": started_at, "repo-commit": SHA},
        finished={"timestamp": finished_at, "passed": True, "result": "SUCCESS"},
        **kw,
    )


@dataclass
class FakeDeck:
    """Pages of 20 builds, newest first, as deck serves them; records the URLs fetched.

    `running`: IDs shown as PENDING; `started`: ID -> epoch seconds (default: the snowflake's
    time, or a fixed time for small IDs); `buckets`: ID -> bucket (default BUCKET).
    """

    ids: Iterable[int]
    job: JobSpec = field(default_factory=job_spec)
    running: frozenset[int] = frozenset()
    started: dict[int, float] = field(default_factory=dict)
    buckets: dict[int, str] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ids = sorted(self.ids, reverse=True)

    @property
    def requests(self) -> int:
        return len(self.fetched)

    async def page(self, url: str) -> HistoryPage:
        self.fetched.append(url)
        ids: list[int] = list(self.ids)
        if not ids:
            return HistoryPage(builds=[], skipped=[], older_url=None)
        top = int(url.split("buildId=")[1]) if "buildId=" in url else ids[0]
        shown = [i for i in ids if i <= top][:20]
        rest = [i for i in ids if i < shown[-1]]
        builds = [self.ref(i) for i in shown]
        older = f"{self.job.url.url}?buildId={rest[0]}" if rest else None
        return HistoryPage(builds=builds, skipped=[], older_url=older)

    def ref(self, build_id: int) -> BuildRef:
        when = self.started.get(build_id)
        if when is None:
            when = (build_id >> 22) / 1000 + SNOWFLAKE_EPOCH_MS / 1000
            if build_id < 10**15:
                when = 1519898400  # small IDs: 2018-03-01
        return build_ref(
            build_id,
            job=self.job.name,
            bucket=self.buckets.get(build_id, BUCKET),
            result="PENDING" if build_id in self.running else "SUCCESS",
            started=rfc3339(when),
        )


@dataclass
class FakeGcs:
    """Bucket listings and JSON objects from memory; `refuse` lists buckets answering 401."""

    listed: dict[str, list[int]] = field(default_factory=dict)
    objects: dict[tuple[str, str], Any] = field(default_factory=dict)
    refuse: frozenset[str] = frozenset()
    honour_offset: bool = True  # servers may ignore startOffset
    listings: list[tuple[str, str | None]] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)

    async def list_folder(self, bucket: str, prefix: str, *, start_offset: str | None = None):
        self.listings.append((bucket, start_offset))
        if bucket in self.refuse:
            raise RemoteError(f"gs://{bucket}/{prefix} (list): HTTP 401", status=401)
        names = [f"{prefix}{i}/" for i in self.listed.get(bucket, [])]
        if start_offset is not None and self.honour_offset:
            names = [n for n in names if n >= start_offset]
        names.sort()
        yield Listing(prefixes=names, names=[])

    async def read_json(self, bucket: str, path: str) -> Any:
        self.reads.append(f"{bucket}/{path}")
        return self.objects.get((bucket, path))

    async def read_text(self, bucket: str, path: str) -> str | None:
        self.reads.append(f"{bucket}/{path}")
        value = self.objects.get((bucket, path))
        return value if isinstance(value, str) else None
