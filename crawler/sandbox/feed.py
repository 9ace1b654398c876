"""Deck's ProwJob feed, `/prowjobs.js`, served from the sandbox's world the way
kubernetes-sigs/prow's deck does (cmd/deck/main.go handleProwJobs, writeJSONResponse; the
retention of cmd/sinker). See docs/formats.md#decks-prowjob-feed.

What the feed holds, from the World (which it never changes):
- every build's ProwJob (its prowjob.json document): finished ones, and running ones as
  `pending`, whether or not the build's folder has a prowjob.json;
- minus what sinker has deleted: finished ProwJobs whose startTime is older than `retention`
  (24 h, OpenShift's max_prowjob_age) before the feed's `now`, except the newest finished run
  of each periodic;
- plus one `triggered` item per periodic (its next run, queued: no build ID, no URL yet);
- minus hidden jobs, as deck leaves them out: by default the default world's
  `pull-ci-openshift-origin-master-e2e-aws-ovn` (its job-history pages still work), and the
  jobs of the `feed_blind` fault.
"""

from __future__ import annotations

import calendar
import gzip
import hashlib
import time
from dataclasses import dataclass

from aiohttp import web

from .counter import RequestCounter
from .faults import Faults
from .injection import feed_failure
from .records import SandboxBuild, SandboxJob, go_json, rfc3339
from .world import DEFAULT_NOW, World

FEED_PATH = "/prowjobs.js"
# A job of the default world that deck hides (`hidden: true`): on its pages, not in the feed.
HIDDEN_JOBS = frozenset({"pull-ci-openshift-origin-master-e2e-aws-ovn"})
RETENTION = 24 * 3600  # OpenShift's sinker max_prowjob_age
# gziphandler's DefaultMinSize: shorter answers go uncompressed even when gzip is accepted.
GZIP_MIN_SIZE = 1400
_NO_CACHE = {
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
    "Expires": "0",
    "Vary": "Accept-Encoding",
}


@dataclass
class FeedSettings:
    """What the feed shows; change it while the sandbox runs (`sandbox.feed.retention = ...`).

    now: the present sinker measures age from; None is the world's (`world_now`).
    """

    retention: float = RETENTION
    hidden_jobs: frozenset[str] = HIDDEN_JOBS
    now: float | None = None


def world_now(world: World) -> float:
    """The world's present: today 00:00 UTC, or its newest start if later (builds added while
    the sandbox runs, worlds generated up to time.time())."""
    return float(max([DEFAULT_NOW, *(b.started for b in world.builds())]))


def add_feed_route(
    app: web.Application,
    world: World,
    faults: Faults,
    counter: RequestCounter,
    settings: FeedSettings,
) -> None:
    """Serve `/prowjobs.js` on the deck app; requests are counted as "feed" in `counter`."""

    async def prowjobs(request: web.Request) -> web.Response:
        counter.add("feed")
        failed = feed_failure(faults, request)
        if failed is not None:
            return failed
        blind = faults.feed_blind_jobs
        if blind & {j.name for j in world.jobs}:
            faults.mark("deck", request, "feed-blind")
        omit = frozenset(request.query.get("omit", "").split(","))
        items = [_omitted(item, omit) for item in feed_items(world, settings, blind)]
        text = go_json({"items": items})
        headers = dict(_NO_CACHE)
        name = request.query.get("var", "")
        if name:
            text, content_type = f"var {name} = {text};", "application/javascript"
        else:
            content_type = "application/json"
        headers["Content-Type"] = content_type
        body = text.encode()
        if len(body) >= GZIP_MIN_SIZE and _accepts_gzip(request.headers.get("Accept-Encoding")):
            body = gzip.compress(body, compresslevel=6)
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

    app.router.add_get(FEED_PATH, prowjobs)


def feed_items(
    world: World, settings: FeedSettings, blind: frozenset[str] = frozenset()
) -> list[dict]:
    """The ProwJobs deck lists, newest first by startTime (ties by job name). The documents
    are the world's own: copy before changing them."""
    now = settings.now if settings.now is not None else world_now(world)
    cutoff = now - settings.retention
    kept: list[tuple[float, str, dict]] = []
    for job in world.jobs:
        if job.name in settings.hidden_jobs or job.name in blind or not job.builds:
            continue
        spared = _newest_finished(job) if job.kind == "periodic" else None
        for build in job.builds:
            started = _epoch(build.prowjob_json["status"]["startTime"])
            if not build.running and started < cutoff and build is not spared:
                continue  # deleted by sinker
            kept.append((started, job.name, build.prowjob_json))
        if job.kind == "periodic":
            kept.append((now - 5, job.name, _triggered(job, now - 5)))
    kept.sort(key=lambda entry: (-entry[0], entry[1]))
    return [item for _, _, item in kept]


def _newest_finished(job: SandboxJob) -> SandboxBuild | None:
    done = [b for b in job.builds if not b.running]
    return max(done, key=lambda b: (b.started, int(b.id))) if done else None


def _triggered(job: SandboxJob, at: float) -> dict:
    """A queued run of `job`: plank has not made its pod, so no build ID, URL or pod yet."""
    template = job.builds[0].prowjob_json
    h = hashlib.sha256(f"triggered-{job.name}".encode()).hexdigest()
    labels = {
        k: v for k, v in template["metadata"].get("labels", {}).items() if "build-id" not in k
    }
    return {
        **template,
        "metadata": {
            **template["metadata"],
            "name": f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}",
            "creationTimestamp": rfc3339(int(at)),
            "labels": labels,
        },
        "status": {
            "startTime": rfc3339(int(at)),
            "state": "triggered",
            "description": "Job triggered.",
        },
    }


def _omitted(item: dict, omit: frozenset[str]) -> dict:
    """The item without the fields `omit=` names (a copy when anything is left out)."""
    if not omit & {"annotations", "labels", "decoration_config", "pod_spec"}:
        return item
    dropped = omit & {"annotations", "labels"}
    metadata = {k: v for k, v in item["metadata"].items() if k not in dropped}
    spec = dict(item["spec"])
    if "decoration_config" in omit:
        spec.pop("decoration_config", None)
    if "pod_spec" in omit and "pod_spec" in spec:
        # Deck keeps one empty container per container, so its UI can count them.
        containers = spec["pod_spec"].get("containers", [])
        spec["pod_spec"] = {"containers": [{"name": "", "resources": {}} for _ in containers]}
    return {**item, "metadata": metadata, "spec": spec}


def _accepts_gzip(header: str | None) -> bool:
    """gziphandler's test: `gzip` listed with a q-value above 0 (`*` does not count)."""
    for part in (header or "").split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        if coding.lower() != "gzip":
            continue
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


def _epoch(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
