"""One guarded HTTP exchange: host limits, timeout, size cap, same-host redirects, retries."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from crawler.core.errors import RemoteError
from crawler.net.limits import HostGate
from crawler.net.retry import (
    NETWORK_ERRORS,
    RetryStats,
    TransientError,
    classify_status,
    retrying,
)

MAX_REDIRECTS = 3


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str]


class BodyTooLarge(RemoteError):
    """The answer exceeded the size cap: refuse it rather than hold it in memory."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


async def read_capped(resp: aiohttp.ClientResponse, cap: int, what: str) -> bytes:
    """Read a body chunk by chunk, failing as soon as it exceeds `cap` bytes."""
    length = resp.content_length
    if length is not None and length > cap:
        raise BodyTooLarge(f"{what}: body of {length} bytes exceeds the {cap}-byte cap")
    if length is not None and "Content-Encoding" not in resp.headers:
        # Not decompressed on the way in, so the declared length is the size held: one read
        # (cheaper than the chunk loop; aiohttp never reads past Content-Length).
        return await resp.read()
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > cap:
            raise BodyTooLarge(f"{what}: body exceeds the {cap}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


async def exchange(
    session: aiohttp.ClientSession,
    gate: HostGate,
    method: str,
    url: str,
    *,
    what: str,
    cap: int,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    stats: RetryStats | None = None,
    final: Callable[[int, bytes], bool] | None = None,
) -> Response:
    """Send one request with retries; return the final non-retryable answer.

    Redirects are followed only on the same scheme and host: headers (the Logilica token among
    them) must never travel to a host they were not meant for. `final(status, body)` marks an
    answer with a retryable status as the server's last word (deck's "failed to get job
    history"). Raises RemoteError when the request still fails after its retries.
    """

    data: bytes | None = None
    if json_body is not None:
        # Encoded once for every try, without the spaces json.dumps puts after separators by
        # default (a build with its step stages is a few KiB of JSON).
        data = json.dumps(json_body, separators=(",", ":")).encode()
        headers = {**(headers or {}), "Content-Type": "application/json"}

    async def attempt() -> Response:
        target = url
        for _ in range(MAX_REDIRECTS + 1):
            async with gate.slot():
                try:
                    async with session.request(
                        method,
                        target,
                        headers=headers,
                        data=data,
                        allow_redirects=False,
                        timeout=aiohttp.ClientTimeout(total=timeout),
                    ) as resp:
                        if resp.status in (301, 302, 303, 307, 308):
                            location = resp.headers.get("Location", "")
                            target = _same_host_redirect(target, location, what)
                            continue
                        transient = classify_status(resp.status, resp.headers, gate, what)
                        if transient is not None and final is None:
                            raise transient
                        body = await read_capped(resp, cap, what)
                        if transient is not None and final and not final(resp.status, body):
                            raise transient
                        return Response(resp.status, body, resp.headers)
                except NETWORK_ERRORS as exc:
                    raise TransientError(f"{what}: {_describe(exc)}") from None
        raise RemoteError(f"{what}: more than {MAX_REDIRECTS} redirects")

    return await retrying(attempt, stats=stats)


def _same_host_redirect(current: str, location: str, what: str) -> str:
    target = urljoin(current, location)
    a, b = urlsplit(current), urlsplit(target)
    if (a.scheme, a.netloc) != (b.scheme, b.netloc):
        raise RemoteError(f"{what}: redirected to another host ({b.netloc or '?'}): not followed")
    return target


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    # aiohttp's messages name host and port, never headers: safe to show.
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
