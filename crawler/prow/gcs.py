"""Anonymous (or emulator) reads and listings of GCS (docs/formats.md#gcs-bucket-layout,
#gcs-listing): listings through gcloud-aio-storage, object reads as one plain GET on the JSON
API's media URL (the request made three or four times per build, so no wrapper around it)."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

import aiohttp
from aiohttp.http_exceptions import ContentEncodingError
from yarl import URL

from crawler.net.http import read_capped
from crawler.net.limits import HostGate
from crawler.net.retry import (
    NETWORK_ERRORS,
    DecodeBudget,
    RetryStats,
    TransientError,
    classify_status,
    give_up,
    retrying,
)

if TYPE_CHECKING:
    from gcloud.aio.storage import Storage

# started/finished.json are a few KiB; prowjob.json rarely passes 100 KiB. Anything far larger
# is not a build's metadata, and reading it whole would break the flat-memory promise.
DEFAULT_MAX_OBJECT_BYTES = 8 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
# Characters quote(..., safe="") leaves as they are, plus "/" (encoded by _segment itself).
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~/-]*")


class _NoToken:
    """Stands in for gcloud-aio's Token: public objects need none, and without this stub the
    library would probe the GCE metadata server for credentials before the first request."""

    async def get(self) -> str | None:  # pragma: no cover - never consulted (api_is_dev=True)
        return None

    async def close(self) -> None:
        return None


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

    For listings, `api_is_dev=True` is what keeps gcloud-aio from asking for a token; it would
    also turn off TLS verification, but only for a session the library creates itself, and we
    pass ours. Object reads skip the library: its per-request wrapper (headers, URL quoting
    twice, a response wrapper) cost about as much CPU as the rest of a build's mapping.
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
        self._session = session
        self._api_root = api_root
        self._client: Storage | None = None
        self._gate = gate
        self._timeout = timeout
        self._request_timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_bytes = max_bytes
        self._stats = stats

    @property
    def _storage(self) -> Storage:
        """Made on first use: its imports take 0.1 s, which a run that reads no object (the
        hourly no-op) or has not read one yet (its first deck request) should not wait for."""
        if self._client is None:
            from gcloud.aio.storage import Storage

            self._client = Storage(
                session=self._session, api_root=self._api_root, api_is_dev=True, token=_NoToken()
            )  # type: ignore[arg-type]
        return self._client

    async def read_json(self, bucket: str, path: str) -> Any | None:
        """The decoded JSON object at gs://bucket/path, or None when it does not exist."""
        return await self._read(
            bucket, path, lambda data, what: decode_object(data, self._max_bytes, what)
        )

    async def read_text(self, bucket: str, path: str) -> str | None:
        """A small text object (a presubmit's directory entry), or None if absent."""
        return await self._read(bucket, path, _decode_text)

    async def read_streamed(self, bucket: str, path: str, sink: Callable[[], Sink]) -> Any | None:
        """An object parsed while it streams in, by a fresh `sink()` for each try (never
        held whole); None when it does not exist. ValueError if the sink refuses it."""
        return await self._read(bucket, path, lambda data, what: data, sink=sink)

    async def _read(
        self,
        bucket: str,
        path: str,
        decode: Callable[[Any, str], Any],
        *,
        sink: Callable[[], Sink] | None = None,
    ) -> Any | None:
        what = f"gs://{bucket}/{path}"
        # A body that does not decode counts against its own budget (see crawler.net.retry),
        # not the network's: a really corrupt object must not be read seven times.
        budget = DecodeBudget()

        url = self._object_url(bucket, path)

        async def attempt() -> tuple[bool, Any]:
            async with self._gate.slot():
                try:
                    async with self._session.get(url, timeout=self._request_timeout) as resp:
                        if resp.status == 404:
                            return False, None
                        if resp.status >= 400:
                            raise self._status_error(resp.status, resp.headers, what)
                        if sink is None:
                            data = await read_capped(resp, self._max_bytes, what)
                        else:
                            parser = sink()
                            async for chunk in resp.content.iter_chunked(64 * 1024):
                                parser.feed(chunk)
                            data = parser.result()
                except aiohttp.ClientPayloadError as exc:
                    if not isinstance(exc.__cause__, ContentEncodingError):
                        raise TransientError(f"{what}: {type(exc).__name__}") from None
                    # The body came whole but aiohttp could not gunzip it: a decode failure.
                    message = f"{what}: corrupt gzip data (Content-Encoding: gzip)"
                    budget.spend(ValueError(message))
                    raise TransientError(message) from None
                except NETWORK_ERRORS as exc:
                    raise TransientError(f"{what}: {type(exc).__name__}") from None
            try:
                return True, decode(data, what)
            except ValueError as exc:
                budget.spend(exc)
                raise TransientError(str(exc)) from None

        found, obj = await retrying(attempt, stats=self._stats)
        return obj if found else None

    def _status_error(self, status: int, headers: Mapping[str, str], what: str) -> Exception:
        transient = classify_status(status, headers, self._gate, what)
        return transient or give_up(f"{what}: HTTP {status}", status)

    def _object_url(self, bucket: str, path: str) -> URL:
        """The JSON API's media URL of an object, encoded once (the name as one segment)."""
        return URL(
            f"{self._api_root}/storage/v1/b/{_segment(bucket)}/o/{_segment(path)}?alt=media",
            encoded=True,
        )

    async def list_folder(
        self, bucket: str, prefix: str, *, start_offset: str | None = None
    ) -> AsyncIterator[Listing]:
        """Pages of objects.list(prefix, delimiter='/'): sub-folders and object names.

        A bucket that does not exist lists as empty: deck merges jobs across buckets, and not
        every job has builds in every one of them.
        """
        what = f"gs://{bucket}/{prefix} (list)"
        token: str | None = None
        while True:
            params = {
                "prefix": prefix,
                "delimiter": "/",
                "maxResults": "1000",
                "fields": "prefixes,items(name),nextPageToken",
            }
            if token:
                params["pageToken"] = token
            if start_offset:
                params["startOffset"] = start_offset

            # `params=params` binds this page's parameters now: the retries of one page must
            # not see the next page's token.
            async def attempt(params: dict[str, str] = params) -> dict[str, Any] | None:
                async with self._gate.slot():
                    try:
                        return await self._storage.list_objects(
                            bucket,
                            params=params,
                            timeout=self._timeout,  # type: ignore[arg-type]
                        )
                    except aiohttp.ClientResponseError as exc:
                        if exc.status == 404:
                            return None
                        raise self._status_error(exc.status, exc.headers or {}, what) from None
                    except NETWORK_ERRORS as exc:
                        raise TransientError(f"{what}: {type(exc).__name__}") from None
                    except ValueError as exc:  # an answer that is not JSON
                        raise TransientError(f"{what}: {exc}") from None

            page = await retrying(attempt, stats=self._stats)
            if not isinstance(page, dict):
                return
            prefixes = [p for p in page.get("prefixes") or [] if isinstance(p, str)]
            names = [
                i["name"]
                for i in page.get("items") or []
                if isinstance(i, dict) and isinstance(i.get("name"), str)
            ]
            yield Listing(prefixes=prefixes, names=names)
            token = page.get("nextPageToken")
            if not isinstance(token, str) or not token:
                return


class Sink(Protocol):
    """Takes an object's body chunk by chunk; `result` is what it made of it."""

    def feed(self, chunk: bytes) -> None: ...
    def result(self) -> Any: ...


@dataclass(frozen=True)
class Listing:
    prefixes: list[str]
    names: list[str]


def _segment(text: str) -> str:
    """`text` percent-encoded as one URL path segment (a slash too). Bucket and object names
    of builds are nearly always URL-safe, which only needs the slashes replaced: quote() costs
    ten times as much, and this runs for every object read."""
    if _URL_SAFE.fullmatch(text):
        return text.replace("/", "%2F")
    return quote(text, safe="")


def _decode_text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError(f"{what}: not UTF-8 text") from None
