"""Test data for the unit tests: job specs, build refs, deck pages, GCS contents and Logilica
payloads, hypothesis strategies for JSON, and small fakes of the deck and GCS clients (the same
verbs, served from memory)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from crawler.core.builds import BuildRef, parse_job_url
from crawler.core.errors import RemoteError
from crawler.core.horizon import SNOWFLAKE_EPOCH_MS
from crawler.core.jobs import JobSpec, TriggeredBy
from crawler.core.records import Artifacts, Payload
from crawler.logilica.payload import to_payload
from crawler.prow.gcs import Listing
from crawler.prow.pages import HistoryPage
from crawler.sandbox.records import go_json as sandbox_go_json

DECK = "http://deck.test"
BUCKET = "test-platform-results"
SHA = "0123456789abcdef0123456789abcdef01234567"
HEAD_SHA = "fedcba9876543210fedcba9876543210fedcba98"  # a PR's head: what a presubmit tests
T0, T1 = 1753861234, 1753865012  # started.json's and finished.json's times by default
# OpenShift CI's deck, and what its uploads say about where they come from.
OPENSHIFT_DECK = "https://prow.ci.openshift.org"
ORIGIN = "OpenShift_CI"
TRIGGER = TriggeredBy(name="OpenShift CI", email="ci@example.com", account_id="openshift-ci")


# -- jobs and builds ------------------------------------------------------------------------------


def job_spec(
    name: str = "j", *, presubmit: bool = False, bucket: str = BUCKET, deck: str = DECK, **kw: Any
) -> JobSpec:
    """A JobSpec for a job on `deck` (the fake one by default; periodic unless `presubmit`)."""
    kind = "pr-logs/directory" if presubmit else "logs"
    url = parse_job_url(f"{deck}/job-history/gs/{bucket}/{kind}/{name}")
    return JobSpec(name=name, url=url, **kw)


def snowflake_at(epoch_seconds: float, seq: int = 0) -> int:
    """A Prow build ID minted at this moment."""
    return ((int(epoch_seconds * 1000) - SNOWFLAKE_EPOCH_MS) << 22) | seq


def rfc3339(epoch: float) -> str:
    """A whole-second UTC timestamp, as deck shows a build's start."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def pr_build_path(org_repo: str, pr: int, job: str, build_id: str) -> str:
    """A presubmit build's folder: pr-logs/pull/ORG_REPO/PR/JOB/ID."""
    return f"pr-logs/pull/{org_repo}/{pr}/{job}/{build_id}"


def build_ref(
    build_id: int | str,
    *,
    job: str = "j",
    bucket: str = BUCKET,
    path: str | None = None,
    result: str = "SUCCESS",
    started: str = "2026-07-30T09:00:00Z",
    **kw: Any,
) -> BuildRef:
    """A BuildRef as a deck page lists it (a periodic's folder logs/JOB/ID unless `path`)."""
    return BuildRef(
        id=str(build_id),
        bucket=bucket,
        path=f"logs/{job}/{build_id}" if path is None else path,
        result=result,
        started=started,
        **kw,
    )


# -- GCS documents and the Logilica payload -------------------------------------------------------


def started_json(**fields: Any) -> dict[str, Any]:
    """A started.json (started at T0, commit SHA), `fields` added or replaced."""
    return {"timestamp": T0, "repo-commit": SHA, **fields}


def finished_json(**fields: Any) -> dict[str, Any]:
    """A finished.json of a build that passed (finished at T1), `fields` added or replaced."""
    return {"timestamp": T1, "passed": True, "result": "SUCCESS", **fields}


def artifacts(
    started_at: float = T0,
    finished_at: float = T1,
    *,
    result: str = "SUCCESS",
    repo: str | None = None,
    **kw: Any,
) -> Artifacts:
    """A build's started.json and finished.json: it ended with `result` (passed if SUCCESS),
    and finished.json's metadata names `repo` if given."""
    finished = finished_json(timestamp=finished_at, passed=result == "SUCCESS", result=result)
    if repo is not None:
        finished["metadata"] = {"repo": repo}
    return Artifacts(started=started_json(timestamp=started_at), finished=finished, **kw)


def payload_for(
    job: JobSpec, build: BuildRef, art: Artifacts, triggered_by: TriggeredBy = TRIGGER
) -> Payload:
    """to_payload for a build of `job`, linked to the job's deck, as OpenShift CI's origin."""
    return to_payload(
        job, build, art, deck_base=job.url.base, triggered_by=triggered_by, origin=ORIGIN
    )


# -- deck pages -----------------------------------------------------------------------------------


def go_json(value: Any, *, ascii_only: bool = False) -> str:
    """JSON as deck writes it into a page (crawler.sandbox's go_json: <, > and & escaped);
    `ascii_only` also escapes DEL and all non-ASCII as \\uXXXX, as json.dumps does."""
    text = sandbox_go_json(value)
    if not ascii_only:
        return text
    # Outside strings JSON is plain ASCII, so each such character is a string's: escape it alone.
    return re.sub(r"[^\x00-\x7e]", lambda m: json.dumps(m.group())[1:-1], text)


def page_entry(
    build_id: Any,
    *,
    job: str = "j",
    bucket: str = BUCKET,
    path: str | None = None,
    result: Any = "SUCCESS",
    started: Any = "2025-07-30T07:00:34Z",
    duration: Any = 3_600_000_000_000,
    refs: Any = None,
    link: Any = None,
) -> dict[str, Any]:
    """One allBuilds entry; its SpyglassLink names BUCKET/PATH (logs/JOB/ID by default)
    unless `link` is given."""
    if link is None:
        link = f"/view/gs/{bucket}/{path if path is not None else f'logs/{job}/{build_id}'}"
    return {
        "SpyglassLink": link,
        "ID": build_id,
        "Started": started,
        "Duration": duration,
        "Result": result,
        "Refs": refs,
    }


def deck_page(
    entries: Any,
    *,
    job: str = "j",
    history_path: str | None = None,
    older: int | str | None = None,
    older_href: str | None = None,
    raw_all_builds: str | None = None,
    ascii_only: bool = False,
    bare: bool = False,
) -> str:
    """A job-history page shaped like deck's template (job-history.html) around `entries`
    (or `raw_all_builds`), with an Older Runs link to `older` or `older_href`; `bare`: only
    the allBuilds script in the smallest HTML page, no links."""
    all_builds = (
        raw_all_builds if raw_all_builds is not None else go_json(entries, ascii_only=ascii_only)
    )
    if bare:
        return (
            "<!DOCTYPE html>\n<html><head><title>Job History</title>\n"
            '<script type="text/javascript">\n'
            f"  var allBuilds = {all_builds};\n"
            "</script></head><body></body></html>\n"
        )
    if history_path is None:
        history_path = f"/job-history/gs/{BUCKET}/logs/{job}"
    if older_href is None and older is not None:
        older_href = f"{history_path}?buildId={older}"
    older_link = (
        f'<a href="{older_href}" class="mdl-button">&lt;- Older Runs</a>'
        if older_href is not None
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <title>Job History: {job}</title>
  <script type="text/javascript" src="/static/extensions/script.js"></script>
  <script type="text/javascript">
    var csrfToken = "abc";
    var spyglass = true;
  </script>
</head>
<body>
  <script type="text/javascript">
    var allBuilds = {all_builds};
  </script>
  <script type="text/javascript" src="/static/job_history_bundle.min.js?v=1"></script>
  <header><h3>Job History: {job}</h3></header>
  <div class="pagination">
    <a href="{history_path}" class="mdl-button">Latest Runs</a>
    {older_link}
    <a href="{history_path}?buildId=999999999999999999999" class="mdl-button">Newer Runs -&gt;</a>
  </div>
  <table id="builds"><tbody></tbody></table>
  <footer>Showing 20/1234 results</footer>
</body>
</html>
"""


# -- hypothesis -----------------------------------------------------------------------------------


def json_values(
    *, int_bound: int, finite: bool, max_text: int, max_key: int, max_leaves: int
) -> st.SearchStrategy[Any]:
    """Any JSON value json.loads can give (NaN and ±Infinity too unless `finite`): null,
    booleans, integers within ±int_bound, floats, short strings, small lists and objects."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-int_bound, max_value=int_bound),
        st.floats(allow_nan=not finite, allow_infinity=not finite),
        st.text(max_size=max_text),
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(max_size=max_key), inner, max_size=3)
        ),
        max_leaves=max_leaves,
    )


# -- fakes ----------------------------------------------------------------------------------------


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
