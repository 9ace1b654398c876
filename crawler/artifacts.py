"""Reading one build's folder in GCS and mapping it to what is sent to Logilica."""

from __future__ import annotations

from crawler.config import Config, JobSpec
from crawler.discovery import resolve_indirect
from crawler.errors import BuildError
from crawler.gcs import GcsReader
from crawler.payload import Artifacts, Payload, needs_prowjob, to_payload
from crawler.prow import BuildRef


async def read_payload(
    gcs: GcsReader, config: Config, job: JobSpec, ref: BuildRef
) -> tuple[BuildRef, Payload | None]:
    """The build's real folder and its payload; None while it still runs. BuildError (or
    ValueError for an object that does not decode) when its files are unusable."""
    ref, artifacts = await read_build(gcs, job, ref)
    if artifacts is None:
        return ref, None
    payload = to_payload(
        job,
        ref,
        artifacts,
        deck_base=job.url.base,
        triggered_by=config.triggered_by,
        origin=config.logilica.origin,
    )
    return ref, payload


async def read_build(
    gcs: GcsReader, job: JobSpec, ref: BuildRef
) -> tuple[BuildRef, Artifacts | None]:
    """The build's real folder and its artifacts; None while it still runs (no finished.json).

    finished.json comes first: a running build then costs one request, not two. Throughput is
    the same as fetching both at once, since the GCS gate bounds requests, not builds.
    prowjob.json is read only when the cheaper sources leave a gap (see needs_prowjob).
    """
    ref = await resolve_indirect(gcs, ref)
    base = f"{ref.path}/"
    finished = await gcs.read_json(ref.bucket, base + "finished.json")
    if finished is None:
        return ref, None
    if not isinstance(finished, dict):
        raise BuildError("finished.json is not a JSON object")
    started = await gcs.read_json(ref.bucket, base + "started.json")
    if not isinstance(started, dict):
        raise BuildError("started.json is missing or not a JSON object")
    prowjob = None
    if needs_prowjob(job, ref, finished):
        prowjob = await gcs.read_json(ref.bucket, base + "prowjob.json")
        prowjob = prowjob if isinstance(prowjob, dict) else None
    return ref, Artifacts(started=started, finished=finished, prowjob=prowjob)
