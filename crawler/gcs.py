"""Anonymous (or emulator) reads of a build's JSON files from GCS via gcloud-aio-storage."""

from __future__ import annotations

import json
import os
import zlib
from typing import Any

import aiohttp
from gcloud.aio.storage import Storage

from crawler.errors import RemoteError
from crawler.http import read_capped
from crawler.limits import (
    NETWORK_ERRORS,
    HostGate,
    RetryStats,
    TransientError,
    classify_status,
    with_retries,
)

PUBLIC_API_ROOT = "https://storage.googleapis.com"
# started/finished.json are a few KiB; prowjob.json rarely passes 100 KiB. Anything far larger
# is not a build's metadata, and reading it whole would break the flat-memory promise.
DEFAULT_MAX_OBJECT_BYTES = 8 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
DECODE_TRIES = 3


class _NoToken:
    """Stands in for gcloud-aio's Token: public objects need none, and without this stub the
    library would probe the GCE metadata server for credentials before the first request."""

    async def get(self) -> str | None:  # pragma: no cover - never consulted (api_is_dev=True)
        return None

    async def close(self) -> None:
        return None


def api_root_from_env(environ: dict[str, str] | None = None) -> str:
    """STORAGE_EMULATOR_HOST (the standard emulator switch) or the public JSON API."""
    env = os.environ if environ is None else environ
    host = env.get("STORAGE_EMULATOR_HOST", "").strip()
    if not host:
        return PUBLIC_API_ROOT
    return host if host.startswith(("http://", "https://")) else f"http://{host}"


def decode_object(data: bytes, cap: int, what: str) -> Any:
    """Decode JSON bytes, gunzipping first when the object was stored compressed.

    GCS serves gzip-stored objects decompressed only when the client does not accept gzip, and
    an emulator may not set Content-Encoding at all: so check the magic bytes, not headers.
    """
    if data.startswith(_GZIP_MAGIC):
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            data = inflater.decompress(data, cap + 1)
        except zlib.error as exc:
            raise ValueError(f"{what}: corrupt gzip data ({exc})") from None
        if len(data) > cap or inflater.unconsumed_tail:
            raise ValueError(f"{what}: decompresses to more than {cap} bytes")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{what}: not valid JSON ({exc})") from None


class GcsReader:
    """Reads objects with our own session (TLS verified) and no Authorization header.

    `api_is_dev=True` is what keeps gcloud-aio from asking for a token; it would also turn off
    TLS verification, but only for a session the library creates itself, and we pass ours.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        gate: HostGate,
        *,
        api_root: str,
        timeout: float,
        max_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
        stats: RetryStats | None = None,
    ) -> None:
        self._storage = Storage(
            session=session, api_root=api_root, api_is_dev=True, token=_NoToken()
        )  # type: ignore[arg-type]
        self._gate = gate
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._stats = stats

    async def read_json(self, bucket: str, path: str) -> Any | None:
        """The decoded JSON object at gs://bucket/path, or None when it does not exist."""
        what = f"gs://{bucket}/{path}"
        undecodable = 0

        async def attempt() -> tuple[bool, Any]:
            nonlocal undecodable
            async with self._gate.slot():
                try:
                    stream = await self._storage.download_stream(
                        bucket,
                        path,
                        timeout=self._timeout,  # type: ignore[arg-type]
                    )
                    async with stream as resp:
                        data = await read_capped(resp, self._max_bytes, what)
                except aiohttp.ClientResponseError as exc:
                    if exc.status == 404:
                        return False, None
                    transient = classify_status(exc.status, exc.headers or {}, self._gate, what)
                    if transient is not None:
                        raise transient from None
                    raise RemoteError(f"{what}: HTTP {exc.status}", status=exc.status) from None
                except NETWORK_ERRORS as exc:
                    raise TransientError(f"{what}: {type(exc).__name__}") from None
            try:
                return True, decode_object(data, self._max_bytes, what)
            except ValueError as exc:
                # A body cut short in transit decodes badly once and fine the next time;
                # a really corrupt object fails every time: give it two more chances only.
                undecodable += 1
                if undecodable >= DECODE_TRIES:
                    raise
                raise TransientError(str(exc)) from None

        try:
            found, obj = await with_retries(attempt, stats=self._stats)
        except TransientError as exc:
            raise RemoteError(f"{exc} (gave up after retries)", status=exc.status) from None
        return obj if found else None
