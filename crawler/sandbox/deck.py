"""A fake Prow deck serving job-history pages the way kubernetes-sigs/prow's deck does.

Follows `cmd/deck/job_history.go` (paging, links, errors) and the job-history template
(the build list is a JSON array on one line of a `<script>`, encoded like Go's html/template).
Like OpenShift's deck it merges a job's builds from both result buckets.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote_plus, urlencode

from aiohttp import web

from .counter import RequestCounter
from .faults import Faults
from .feed import FeedSettings, add_feed_route
from .injection import faults_middleware, padding
from .records import PRIVATE_BUCKET, PUBLIC_BUCKET, SandboxBuild, SandboxJob, go_json, rfc3339
from .world import World

PAGE_SIZE = 20
BUCKET_ALIASES = {"origin-ci-test": PRIVATE_BUCKET}
_ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time, shown when started.json is unreadable
_MAX_UINT64 = 2**64 - 1


WORLD_KEY = web.AppKey("world", World)
COUNTER_KEY = web.AppKey("deck_requests", RequestCounter)
FAULTS_KEY = web.AppKey("faults", Faults)


class JobHistoryError(Exception):
    """Anything deck reports as `failed to get job history: ...` with HTTP 500."""


@dataclass
class _Page:
    name: str
    builds: list[dict]
    total: int
    older: str | None = None
    newer: str | None = None
    latest: str | None = None


def make_deck_app(
    world: World,
    faults: Faults,
    counter: RequestCounter | None = None,
    feed_counter: RequestCounter | None = None,
    feed: FeedSettings | None = None,
) -> web.Application:
    """The deck app: job-history pages for every job of `world` (counted in `counter`) and
    the ProwJob feed (counted apart, in `feed_counter`: see feed.py)."""
    app = web.Application(middlewares=[faults_middleware(faults, "deck")])
    app[WORLD_KEY] = world
    app[COUNTER_KEY] = counter or RequestCounter()
    app[FAULTS_KEY] = faults
    app.router.add_get("/job-history/gs/{bucket}/logs/{job}", _handler("logs", "logs"))
    app.router.add_get(
        "/job-history/gs/{bucket}/pr-logs/directory/{job}", _handler("pr-logs", "pr-logs")
    )
    # The old URL form without the storage provider; deck assumes gs.
    app.router.add_get("/job-history/{bucket}/logs/{job}", _handler("logs", "legacy"))
    app.router.add_get(
        "/job-history/{bucket}/pr-logs/directory/{job}", _handler("pr-logs", "legacy")
    )
    add_feed_route(app, world, faults, feed_counter or RequestCounter(), feed or FeedSettings())
    return app


def _handler(kind: str, counted_as: str):
    async def job_history(request: web.Request) -> web.Response:
        request.app[COUNTER_KEY].add(counted_as)
        try:
            page = job_history_page(request.app[WORLD_KEY], kind, request)
        except JobHistoryError as err:
            return web.Response(
                status=500,
                text=f"failed to get job history: {err}\n",
                content_type="text/plain",
                charset="utf-8",
                headers={"X-Content-Type-Options": "nosniff"},
            )
        faults = request.app[FAULTS_KEY]
        name = request.match_info["job"]
        if name in faults.hostile_jobs and not request.query.get("buildId"):
            page.builds = hostile_entries(request.app[WORLD_KEY].job(name)) + page.builds
            faults.mark("deck", request, "hostile")
        text = _apply_page_faults(request, render_page(page))
        return web.Response(text=text, content_type="text/html", charset="utf-8")

    return job_history


def _apply_page_faults(request: web.Request, text: str) -> str:
    """Pages without their allBuilds line, with one that is not JSON, or padded to MBs."""
    faults = request.app[FAULTS_KEY]
    job = request.match_info["job"]
    if job in faults.page_missing_jobs or faults.draw("deck", "page_missing_rate"):
        faults.mark("deck", request, "page-missing")
        text = "".join(
            line for line in text.splitlines(keepends=True) if "var allBuilds = " not in line
        )
    elif job in faults.page_garbled_jobs or faults.draw("deck", "page_garbled_rate"):
        faults.mark("deck", request, "page-garbled")
        start = text.index("var allBuilds = ") + len("var allBuilds = ")
        end = text.index("\n", start)
        text = text[:start] + "[{ID: '1', SpyglassLink: undefined}, <b>oops</b>];" + text[end:]
    if faults.page_padding and (not faults.padding_jobs or job in faults.padding_jobs):
        text = text.replace("<head>\n", "<head>\n" + padding(faults.page_padding), 1)
    return text


def hostile_entries(job: SandboxJob) -> list[dict]:
    """allBuilds entries a broken or malicious deck could list for `job`. None names a real
    build that is new: a crawler must skip them, find no files for them, or map them to
    exactly what their GCS files say; never upload anything else."""
    done = [b for b in job.builds if not b.running]
    real, other = done[len(done) // 2], done[-1]
    folder = real.spyglass_path.rsplit("/", 1)[0]
    html_refs = {
        "org": "<script>alert(1)</script>",
        "repo": "r\u0000e\"p'o",
        "base_ref": "master",
        "pulls": [
            {
                "number": 2**80,
                "author": "<img src=x onerror=alert(1)>\u202e",
                "sha": "not-a-sha",
                "title": "</script><script>var allBuilds = [];</script> \U0001f4a5 \ufeff",
                "link": "javascript:alert(1)",
            }
        ],
    }

    def entry(build_id: object, link: object, **extra: object) -> dict:
        return {
            "SpyglassLink": link,
            "ID": build_id,
            "Started": rfc3339(real.started),
            "Duration": 1,
            "Result": "SUCCESS",
            "Refs": None,
            **extra,
        }

    huge = "9" * 40
    return [
        entry("0" + real.id, f"{folder}/0{real.id}"),  # leading zero: another ID's text
        entry(real.id + "x", f"{folder}/{real.id}x"),
        entry("-" + real.id, f"{folder}/-{real.id}"),
        entry("\u0661\u0662\u0663", f"{folder}/\u0661\u0662\u0663"),  # Arabic-Indic digits
        entry(real.id, other.spyglass_path),  # a real ID pointing at another build's folder
        entry(real.id, f"/view/gs/{real.bucket}/logs/../../{real.id}"),
        entry(int(real.id), real.spyglass_path),  # a number, not a string
        entry(
            huge,
            f"{folder}/{huge}",
            Started="9999-12-31T23:59:59Z",
            Duration=10**30,
            Refs=html_refs,
        ),
        entry(
            str(2**64 + 7),
            f"{folder}/{2**64 + 7}",
            Started="-0001-01-01T00:00:00Z",
            Result="PENDING",
            Duration=-(10**18),
        ),
        entry(
            "1" + "0" * 18, f"{folder}/{'1' + '0' * 18}", Result="<b>SUCCESS</b>", Refs=html_refs
        ),
        "not an object",
        None,
        [real.id],
        {"ID": real.id},
    ]


def job_history_page(world: World, kind: str, request: web.Request) -> _Page:
    """The builds and links of one page, computed as deck's getJobHistory does."""
    bucket = request.match_info["bucket"]
    bucket = BUCKET_ALIASES.get(bucket, bucket)
    job = _find_job(world, bucket, kind, request.match_info["job"])
    top = _requested_build_id(request)
    builds = {int(b.id): b for b in job.builds}
    ids = sorted(builds, reverse=True)
    latest = ids[0] if ids else 0
    if top == 0 or top > latest:
        top = latest
    page = _Page(name=job.history_root(), builds=[], total=len(ids))
    if top != latest:
        page.latest = _link(request, None)
    shown, first, last = _crop(ids, top)
    if first > 0:
        newer_index = first - PAGE_SIZE
        page.newer = _link(request, ids[newer_index] if newer_index >= 0 else None)
    # Quirk kept from deck: when nothing is <= buildId, `last` stays 0 and Older still shows.
    if last < len(ids) - 1:
        page.older = _link(request, ids[last + 1])
    page.builds = [build_entry(builds[i]) for i in shown]
    return page


def _find_job(world: World, bucket: str, kind: str, name: str) -> SandboxJob:
    if bucket not in (PRIVATE_BUCKET, PUBLIC_BUCKET) and not _bucket_in_use(world, bucket):
        allowed = {PRIVATE_BUCKET, PUBLIC_BUCKET} | {b for j in world.jobs for b in j.buckets()}
        raise JobHistoryError(
            f"could not instantiate storage bucket: bucket {_go_quote(bucket)} not in allowed list"
            f" ({', '.join(sorted(allowed))}); you may allow it by including it in"
            " `deck.additional_allowed_buckets`"
        )
    root = f"pr-logs/directory/{name}" if kind == "pr-logs" else f"logs/{name}"
    for job in world.jobs:
        same_kind = job.presubmit == (kind == "pr-logs")
        if job.name == name and same_kind and bucket in job.buckets():
            return job
    key = f"{root}/latest-build.txt"
    raise JobHistoryError(
        f"failed to locate build data: failed to read {key}: creating reader for object"
        f" {key}: storage: object doesn't exist"
    )


def _go_quote(text: str) -> str:
    """Roughly Go's %q, so error texts read like deck's."""
    return json.dumps(text, ensure_ascii=False)


def _bucket_in_use(world: World, bucket: str) -> bool:
    return any(bucket in job.buckets() for job in world.jobs)


def _requested_build_id(request: web.Request) -> int:
    """The `buildId` query parameter as deck's parseJobHistURL reads it (0: none)."""
    value = request.query.get("buildId", "")
    if value == "":
        return 0
    where = f"invalid url {request.path_qs}"
    if not value.isascii() or not value.isdigit() or int(value) > _MAX_UINT64:
        raise JobHistoryError(
            f"{where}: invalid value for buildId: strconv.ParseUint: parsing {_go_quote(value)}:"
            " invalid syntax"
        )
    if int(value) < 1:
        raise JobHistoryError(f"{where}: invalid value buildId = {value}")
    return int(value)


def _crop(ids: list[int], top: int) -> tuple[list[int], int, int]:
    """deck's cropResults: up to a page of IDs <= top, with first and last index."""
    shown: list[int] = []
    first, last = -1, 0
    for i, build_id in enumerate(ids):
        if build_id <= top:
            shown.append(build_id)
            if first == -1:
                first = i
            last = i
            if len(shown) >= PAGE_SIZE:
                break
    return shown, first, last


def _link(request: web.Request, build_id: int | None) -> str:
    """deck's linkID: the request's own path and query with buildId replaced (sorted like
    Go's url.Values.Encode); no ID means the newest page."""
    query = [
        (k, v) for k, v in parse_qsl(request.query_string, keep_blank_values=True) if k != "buildId"
    ]
    query.append(("buildId", "" if build_id is None else str(build_id)))
    query.sort(key=lambda kv: kv[0])
    path = request.raw_path.split("?", 1)[0]
    return f"{path}?{urlencode(query, quote_via=quote_plus)}"


def build_entry(build: SandboxBuild) -> dict:
    """One allBuilds entry, read from the build's documents like deck's getBuildData."""
    started = build.started_json.get("timestamp")
    finished = build.finished_json
    result = "Pending" if finished is None else (finished.get("result") or "Unknown")
    duration = 0
    if finished is not None and started is not None and finished.get("timestamp") is not None:
        duration = (finished["timestamp"] - started) * 1_000_000_000
    return {
        "SpyglassLink": build.spyglass_path,
        "ID": build.id,
        "Started": _ZERO_TIME if started is None else rfc3339(started),
        "Duration": duration,
        "Result": result.upper(),
        # Deck fills Refs from prowjob.json: a build without one shows none.
        "Refs": build.prowjob_json.get("spec", {}).get("refs") if build.has_prowjob else None,
    }


def render_page(page: _Page) -> str:
    """The HTML page around the build list, shaped like deck's job-history template."""
    name = html.escape(page.name)
    links = "".join(
        f'      <td><a href="{html.escape(href)}">{text}</a></td>\n'
        for href, text in (
            (page.older, "&lt;- Older Runs"),
            (page.newer, "Newer Runs -&gt;"),
            (page.latest, "Latest Runs"),
        )
        if href
    )
    return (
        _HEAD.replace("{name}", name)
        + f"  var allBuilds = {go_json(page.builds)};\n"
        + _BODY.replace("{name}", name)
        + links
        + _FOOT.replace("{shown}", str(len(page.builds))).replace("{total}", str(page.total))
    )


_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <!-- Use noop gtag function if analytics are not enabled. -->
  <script>
    function gtag() {}
  </script>
  <title>Job History: {name}</title>
  <link rel="stylesheet" type="text/css" href="/static/style.css?v=sandbox">
  <script type="text/javascript" src="/static/extensions/script.js?v=sandbox"></script>
  <script type="text/javascript" src="/static/job_history_bundle.min.js?v=sandbox"></script>
<script type="text/javascript">
"""

_BODY = """</script>
</head>
<body id="job-history">
<div class="mdl-layout mdl-js-layout mdl-layout--fixed-header">
  <header class="mdl-layout__header">
    <div id="header-title" class="mdl-layout__header-row">
      <a href="/" class="logo"><img src="/static/logo-light.png" alt="logo" class="logo"/></a>
      <span class="mdl-layout-title header-title">Job History: {name}</span>
    </div>
  </header>
  <main class="mdl-layout__content">
<div id="job-histogram-container" class="table-container">
  <table id="builds" class="mdl-data-table mdl-js-data-table mdl-shadow--2dp">
    <thead>
    <tr>
      <th class="mdl-data-table__cell--non-numeric">Build ID</th>
      <th class="mdl-data-table__cell--non-numeric">Started</th>
      <th class="mdl-data-table__cell--non-numeric">Duration</th>
      <th class="mdl-data-table__cell--non-numeric">Result</th>
    </tr>
    </thead>
    <tbody></tbody>
  </table>
  <table style="max-width: 1000px">
    <tr>
"""

_FOOT = """    </tr>
  </table>
</div>
<br>
<p>Showing {shown}/{total} results</p>
  </main>
</div>
</body>
</html>
"""
