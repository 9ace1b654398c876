"""How the sandbox's services apply a Faults: the aiohttp middleware for transport faults
(latency, redirects, 429/503 bursts, errors, slow answers, resets) and the broken, huge or
padded bodies of content faults. Faults decides what goes wrong; this module makes it happen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from aiohttp import web

from .faults import Faults
from .faultspec import SERVICES

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_GZIP_MAGIC = b"\x1f\x8b"
_HUGE_CHUNK = 1024 * 1024


def _unavailable(service: str, status: int = 503, headers: dict[str, str] | None = None):
    """A 503 (or 429) shaped like the real service's own errors."""
    if service == "gcs":
        reason = "rateLimitExceeded" if status == 429 else "backendError"
        message = "Rate limit exceeded" if status == 429 else "Backend Error"
        error = {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
        return web.json_response({"error": error}, status=status, headers=headers)
    if service == "logilica":
        text = "too many requests" if status == 429 else "service unavailable"
        return web.json_response({"error": text}, status=status, headers=headers)
    text = "429 Too Many Requests\n" if status == 429 else "503 Service Unavailable\n"
    return web.Response(status=status, text=text, headers=headers)


def _redirect_target(faults: Faults, service: str, request: web.Request) -> str | None:
    if not faults.redirect_to or service not in faults.redirect_services:
        return None
    job = request.path.rstrip("/").rsplit("/", 1)[-1]
    if service == "deck" and faults.redirect_jobs and job not in faults.redirect_jobs:
        return None
    return faults.redirect_to + request.path_qs


def faults_middleware(faults: Faults, service: str) -> Callable:
    """aiohttp middleware applying `faults` to every request of one service."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        faults.note(service, request)
        latency = faults.get(service, "latency") if faults.applies(service) else faults.latency
        if latency > 0:
            await asyncio.sleep(latency)  # simulated network/server delay
        target = _redirect_target(faults, service, request)
        if target is not None:
            faults.mark(service, request, "redirect")
            raise web.HTTPFound(location=target)
        refused = faults.burst(service)
        if refused is not None:
            status, retry_after = refused
            faults.mark(service, request, f"burst{status}")
            return _unavailable(service, status, {"Retry-After": retry_after})
        if faults.should_fail(service):
            faults.mark(service, request, "error")
            return _unavailable(service)
        safe = request.method in ("GET", "HEAD")
        if faults.draw(service, "slow_rate"):
            faults.mark(service, request, "slow")
            await asyncio.sleep(faults.get(service, "slow_delay"))
            if not safe and (request.transport is None or request.transport.is_closing()):
                # The client gave up waiting: this request is dropped unprocessed. (Had it
                # been processed, no client could tell, and a retry would post it twice.)
                return web.Response(status=504, text="gateway timeout\n")
        reset = faults.draw(service, "reset_rate")
        if reset and not safe:
            # A POST is cut before it reaches the application, for the same reason.
            faults.mark(service, request, "reset")
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=502)
        response = await handler(request)
        if reset and _has_body(response):
            faults.mark(service, request, "reset")
            return await _reset_midway(request, response)
        return response

    return middleware


def _has_body(response: web.StreamResponse) -> bool:
    return (
        isinstance(response, web.Response)
        and isinstance(response.body, bytes)
        and (len(response.body) > 1)
    )


async def _reset_midway(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Send the headers (with the full Content-Length) and half the body, then drop the
    connection, as a crashed proxy or a network cut would."""
    assert isinstance(response, web.Response) and isinstance(response.body, bytes)
    body = response.body
    stream = web.StreamResponse(status=response.status, reason=response.reason)
    for key, value in response.headers.items():
        if key.lower() not in ("content-length", "transfer-encoding"):
            stream.headers.add(key, value)
    stream.content_length = len(body)
    if request.transport is None or request.transport.is_closing():
        return response  # the client is gone already: nothing to cut
    try:
        await stream.prepare(request)
        await stream.write(body[: len(body) // 2])
    except ConnectionError:
        pass
    if request.transport is not None:
        request.transport.abort()
    return stream


def break_object(faults: Faults, name: str, body: bytes, gzipped: bool) -> tuple[bytes, str]:
    """A GCS object's body as the faults want it served, and the fault's name ("" if none)."""
    if name in faults.corrupt_objects:
        return (_corrupt_gzip(body), "corrupt-gzip") if gzipped else (_malformed(body), "malformed")
    if not name.endswith(".json"):
        return body, ""  # the rates are for JSON documents, not latest-build.txt and the like
    if gzipped:
        if faults.draw("gcs", "corrupt_gzip_rate"):
            return _corrupt_gzip(body), "corrupt-gzip"
        return body, ""
    if faults.draw("gcs", "truncate_rate") and len(body) > 1:
        return body[: len(body) // 2], "truncated"
    if faults.draw("gcs", "malformed_rate"):
        return _malformed(body), "malformed"
    return body, ""


def _malformed(body: bytes) -> bytes:
    """Looks like JSON at first sight, is not (a proxy's error page served with 200)."""
    return b'{"timestamp": 1700000000, "result": SUCCESS, <html>upstream error</html>' + body[:8]


def _corrupt_gzip(body: bytes) -> bytes:
    """Keep the gzip header, garble the deflate stream and the trailer."""
    if not body.startswith(_GZIP_MAGIC) or len(body) < 20:
        return _GZIP_MAGIC + b"\x08\x00" + b"\xff" * 24
    return body[:10] + bytes(b ^ 0x5A for b in body[10:])


async def serve_huge(faults: Faults, request: web.Request, name: str) -> web.StreamResponse:
    """A JSON object of faults.huge_size bytes, streamed chunk by chunk without a
    Content-Length (so a client can only refuse it by counting what it read)."""
    size = faults.huge_size
    head = b'{"timestamp": 1700000000, "passed": true, "result": "SUCCESS", "padding": "'
    tail = b'"}'
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    response.enable_chunked_encoding()
    await response.prepare(request)
    chunk = b"x" * _HUGE_CHUNK
    left = max(0, size - len(head) - len(tail))
    try:
        await response.write(head)
        faults.huge_sent[name] += len(head)
        while left > 0:
            part = chunk if left >= len(chunk) else chunk[:left]
            await response.write(part)
            faults.huge_sent[name] += len(part)
            left -= len(part)
        await response.write(tail)
        faults.huge_sent[name] += len(tail)
        await response.write_eof()
    except ConnectionError:
        # The client hung up (as it should, past its size cap): nothing more to send.
        if request.transport is not None:
            request.transport.abort()
    return response


def feed_failure(faults: Faults, request: web.Request) -> web.Response | None:
    """The answer of a failing `/prowjobs.js` (the `feed_error` fault), or None."""
    status = faults.feed_error
    if not status:
        return None
    faults.mark("deck", request, "feed-error")
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Server Error"
    return web.Response(status=status, text=f"{status} {phrase}\n")


def padding(size: int) -> str:
    """An HTML comment of about `size` bytes."""
    if size <= 0:
        return ""
    line = "<!-- padding: " + "lorem ipsum dolor sit amet " * 3 + "-->\n"
    return line * (size // len(line) + 1)
