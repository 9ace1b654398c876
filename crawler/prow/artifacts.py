"""Reading one build's folder in GCS: finished.json first, then what the mapping needs."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from crawler.core.builds import BuildRef
from crawler.core.errors import BuildError, CrawlerError
from crawler.core.jobs import JobSpec
from crawler.core.records import Artifacts, needs_prowjob
from crawler.prow.discovery import resolve_indirect
from crawler.prow.gcs import GcsReader
from crawler.prow.stepgraph import STEP_GRAPH, StepGraphReader


async def read_build(
    gcs: GcsReader, job: JobSpec, ref: BuildRef
) -> tuple[BuildRef, Artifacts | None]:
    """The build's real folder and its artifacts; None while it still runs (no finished.json).

    finished.json comes first: a running build then costs one request, not four. The rest is
    read at once: started.json, prowjob.json only when the cheaper sources leave a gap (see
    needs_prowjob), and ci-operator's step graph unless the job says `stages: build`.
    """
    ref = await resolve_indirect(gcs, ref)
    base = f"{ref.path}/"
    finished = await gcs.read_json(ref.bucket, base + "finished.json")
    if finished is None:
        return ref, None
    if not isinstance(finished, dict):
        raise BuildError("finished.json is not a JSON object")
    reads: dict[str, Coroutine[Any, Any, Any]] = {
        "started": gcs.read_json(ref.bucket, base + "started.json")
    }
    if needs_prowjob(job, ref, finished):
        reads["prowjob"] = gcs.read_json(ref.bucket, base + "prowjob.json")
    if job.stages == "steps":
        reads["graph"] = _step_graph(gcs, ref.bucket, base + STEP_GRAPH)
    got = dict(zip(reads, await _all(list(reads.values())), strict=True))
    started, prowjob, graph = got["started"], got.get("prowjob"), got.get("graph")
    if not isinstance(started, dict):
        raise BuildError("started.json is missing or not a JSON object")
    prowjob = prowjob if isinstance(prowjob, dict) else None
    artifacts = Artifacts(started=started, finished=finished, prowjob=prowjob, step_graph=graph)
    return ref, artifacts


async def _all(reads: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    """The reads' results, read at once; every read ends before an error is raised, so none
    is left running when the build's fate is decided. A lone read is awaited as it is (a
    task per read is CPU a build without a graph or prowjob.json need not spend)."""
    if len(reads) == 1:
        return [await reads[0]]
    results = await asyncio.gather(*reads, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


async def _step_graph(gcs: GcsReader, bucket: str, path: str) -> Any:
    """The step graph, or None: a missing or unreadable one never fails the build, which then
    keeps its single stage."""
    try:
        return await gcs.read_streamed(bucket, path, StepGraphReader)
    except (CrawlerError, ValueError):
        return None
