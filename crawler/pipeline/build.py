"""One build from its folder to its payload: the reader of Prow and the Logilica mapping joined."""

from __future__ import annotations

from crawler.core.builds import BuildRef
from crawler.core.jobs import Config, JobSpec
from crawler.core.records import Payload
from crawler.logilica.payload import to_payload
from crawler.prow.artifacts import read_build
from crawler.prow.gcs import GcsReader


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
