"""Injected misbehaviour shared by the sandbox's three services.

One `Faults` object is read by every request, so tests can change it while the sandbox runs
(`sandbox.faults.latency = 0.2`). Every random draw comes from a generator seeded with `seed`
(one per kind of fault), so a run sees the same sequence of draws each time.

Transport faults (latency, `error_rate`, bursts, resets, slow answers) apply to the services in
`error_services`; a value can be overridden for one service (`overrides["gcs"] = {...}`, or
`gcs:burst429=100x2` in a spec). Content faults are specific to a service: GCS objects
(truncated, malformed, corrupt gzip, huge), deck pages (allBuilds missing or not JSON,
padding, redirects).

`Faults.parse("error_rate=0.1,burst429=50x3,reset_rate=0.02,latency=0.05")` builds one from
the compact spec `prow-crawler demo --faults` takes (see `SPEC_HELP`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiohttp import web

SERVICES = frozenset({"deck", "gcs", "logilica"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_GZIP_MAGIC = b"\x1f\x8b"
_HUGE_CHUNK = 1024 * 1024

SPEC_HELP = """\
comma-separated KEY=VALUE items; a key may be prefixed SERVICE: (deck, gcs, logilica) to set
it for that service only (transport faults). Lists join items with '+'.
  latency=SECONDS            delay before every answer
  error_rate=RATE            share of requests answered 503
  services=deck+gcs          services the transport faults apply to (default: all three)
  burst429=NxK, burst503=NxK every Nth request of a service starts K refusals with Retry-After
  retry_after=SECONDS        the bursts' Retry-After (default 1)
  retry_after_form=FORM      seconds, date (HTTP-date) or both (alternating; default)
  reset_rate=RATE            connection reset after the headers and half the body
  slow_rate=RATE, slow=SECONDS   answer that late (beyond the client's timeout)
  truncate_rate=RATE, malformed_rate=RATE, gzip_rate=RATE   GCS object bodies cut short,
                             not JSON, or corrupt gzip (gzip-stored objects)
  corrupt=OBJ+OBJ            GCS object names that are always broken
  huge=OBJ+OBJ, huge_size=BYTES  GCS objects served as a streamed body of that size (100M)
  page_missing_rate=RATE, page_garbled_rate=RATE   deck pages without allBuilds / not JSON
  page_missing=JOB+JOB, page_garbled=JOB+JOB       ... always, for these jobs
  page_padding=BYTES, padding_jobs=JOB+JOB   pad deck pages (of these jobs; default all)
  redirect=URL, redirect_jobs=JOB+JOB, redirect_services=deck   answer 302 to URL + path
  reject_repos=ORG/NAME+...  Logilica answers 422 for these repositories
  hostile=JOB+JOB            deck lists hostile entries on these jobs' newest page
  deny_list=BUCKET+BUCKET    GCS refuses anonymous listing of these buckets (401); objects
                             stay readable
  moved=JOB+JOB              these jobs' newer builds live in a bucket no crawler can guess
                             (MOVED_BUCKET); their job URL still names the old one
  no_prowjob=JOB+JOB         these jobs' builds have no prowjob.json (and deck shows no Refs)
  unlisted=JOB+JOB           bucket listings of these jobs' folders come back empty
  seed=N                     seed of every random draw
BYTES may end in K or M (KiB, MiB)."""


class Hit(NamedTuple):
    """One request as a service saw it: when (time.monotonic), what, and the fault injected
    ("" when answered normally)."""

    at: float
    service: str
    method: str
    path: str
    fault: str


@dataclass
class Faults:
    """What the fake services do wrong.

    latency: seconds added before every response of every service.
    error_rate: share of requests answered 503 instead (seeded, so runs repeat), limited to
        `error_services` (as are all transport faults).
    reject_repos: repository full names ("org/repo") whose Logilica uploads get 422.
    burst_every / burst_len / burst_status: the burst_every-th, 2*burst_every-th, ... request
        of a service starts a run of burst_len refusals with burst_status (429 or 503) and a
        Retry-After of `retry_after` seconds, as delta-seconds or HTTP-date (`retry_after_form`:
        "seconds", "date", or "both" to alternate between bursts).
    reset_rate: share of answers cut after the headers and half the body (transport aborted).
    slow_rate / slow_delay: share of answers delayed by slow_delay seconds.
    truncate_rate / malformed_rate: share of GCS object bodies cut short / replaced by text
        that is not JSON. corrupt_gzip_rate: share of gzip bodies whose deflate data is broken.
    corrupt_objects: GCS object names always served broken (corrupt gzip or not JSON).
    huge_objects: GCS object names served as a valid-looking JSON body of huge_size bytes,
        streamed in 1 MiB chunks (never held in memory); bytes sent are in `huge_sent`.
    page_missing_rate / page_garbled_rate, page_missing_jobs / page_garbled_jobs: deck pages
        whose `var allBuilds` line is left out / is not JSON, at a rate or always for a job.
    page_padding / padding_jobs: bytes of HTML comment added to deck pages (of those jobs;
        empty means every job).
    redirect_to / redirect_services / redirect_jobs: answer 302 to redirect_to + the request's
        path and query (deck: only for redirect_jobs when given).
    hostile_jobs: jobs whose newest history page also lists hostile entries (IDs with leading
        zeros, signs or non-ASCII digits, links to other folders, HTML and unicode in Refs,
        absurd times; see deck.hostile_entries): none of them names a real, new build.
    deny_list_buckets: buckets whose anonymous listing GCS refuses with 401, as a bucket with
        public objects but a private listing does.
    moved_jobs: jobs whose newer half of builds lives in `MOVED_BUCKET` (applied to the world
        when the sandbox starts): results moved to a new bucket, the job URL names the old.
    no_prowjob_jobs: jobs whose builds have no prowjob.json (applied when the sandbox starts);
        deck then shows their Refs as null, as it fills Refs from prowjob.json.
    unlisted_jobs: jobs whose folder lists as empty in every bucket (the builds are there and
        readable): what a listing of the wrong place looks like.
    overrides: service -> {field: value} for the transport faults of one service.
    echo_headers: Logilica error answers carry the request's headers, token included (a
        careless server: the crawler must not print them).
    """

    latency: float = 0.0
    error_rate: float = 0.0
    error_services: frozenset[str] = SERVICES
    reject_repos: frozenset[str] = frozenset()
    seed: int = 0
    burst_every: int = 0
    burst_len: int = 0
    burst_status: int = 429
    retry_after: int = 1
    retry_after_form: str = "both"
    reset_rate: float = 0.0
    slow_rate: float = 0.0
    slow_delay: float = 35.0
    truncate_rate: float = 0.0
    malformed_rate: float = 0.0
    corrupt_gzip_rate: float = 0.0
    corrupt_objects: frozenset[str] = frozenset()
    huge_objects: frozenset[str] = frozenset()
    huge_size: int = 100 * 1024 * 1024
    page_missing_rate: float = 0.0
    page_garbled_rate: float = 0.0
    page_missing_jobs: frozenset[str] = frozenset()
    page_garbled_jobs: frozenset[str] = frozenset()
    page_padding: int = 0
    padding_jobs: frozenset[str] = frozenset()
    redirect_to: str = ""
    redirect_services: frozenset[str] = frozenset({"deck"})
    redirect_jobs: frozenset[str] = frozenset()
    hostile_jobs: frozenset[str] = frozenset()
    deny_list_buckets: frozenset[str] = frozenset()
    moved_jobs: frozenset[str] = frozenset()
    no_prowjob_jobs: frozenset[str] = frozenset()
    unlisted_jobs: frozenset[str] = frozenset()
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    echo_headers: bool = False
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _rngs: dict[str, random.Random] = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)
    _hits: deque[Hit] = field(init=False, repr=False, compare=False)
    _seen: Counter[str] = field(init=False, repr=False, compare=False)
    _burst_left: Counter[str] = field(init=False, repr=False, compare=False)
    _bursts: int = field(init=False, repr=False, compare=False, default=0)
    huge_sent: Counter[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._rngs = {}
        self._lock = threading.Lock()
        self._hits = deque(maxlen=200_000)
        self._seen = Counter()
        self._burst_left = Counter()
        self.huge_sent = Counter()

    # --- drawing -----------------------------------------------------------------------

    def get(self, service: str, name: str) -> Any:
        """A transport fault's value for one service (its override, else the common one)."""
        return self.overrides.get(service, {}).get(name, getattr(self, name))

    def _draw(self, kind: str, rate: float) -> bool:
        if rate <= 0:
            return False
        rng = self._rngs.get(kind)
        if rng is None:
            rng = self._rngs[kind] = random.Random(f"{self.seed}-{kind}")
        return rng.random() < rate

    def _applies(self, service: str) -> bool:
        return service in self.error_services

    def should_fail(self, service: str) -> bool:
        """Draw whether this request of `service` gets an injected 503."""
        rate = self.get(service, "error_rate")
        if rate <= 0 or not self._applies(service):
            return False
        return self._rng.random() < rate

    def burst(self, service: str) -> tuple[int, str] | None:
        """(status, Retry-After value) when this request is refused as part of a burst."""
        every, length = self.get(service, "burst_every"), self.get(service, "burst_len")
        if every <= 0 or length <= 0 or not self._applies(service):
            return None
        with self._lock:
            self._seen[service] += 1
            if self._seen[service] % every == 0 and self._burst_left[service] <= 0:
                self._burst_left[service] = length
                self._bursts += 1
            if self._burst_left[service] <= 0:
                return None
            self._burst_left[service] -= 1
            number = self._bursts
        seconds = int(self.get(service, "retry_after"))
        form = self.get(service, "retry_after_form")
        if form == "date" or (form == "both" and number % 2 == 0):
            # An HTTP-date has whole seconds: round up so the wait is never shorter than asked.
            value = email.utils.formatdate(int(time.time()) + 1 + seconds, usegmt=True)
        else:
            value = str(seconds)
        return int(self.get(service, "burst_status")), value

    def draw(self, service: str, kind: str) -> bool:
        """Whether this request gets fault `kind` (a rate field of this class)."""
        if kind in _TRANSPORT and not self._applies(service):
            return False
        return self._draw(kind, self.get(service, kind))

    # --- what the services saw ------------------------------------------------------------

    def note(self, service: str, request: web.Request, fault: str = "") -> None:
        with self._lock:
            self._hits.append(
                Hit(time.monotonic(), service, request.method, request.path_qs, fault)
            )

    def mark(self, service: str, request: web.Request, fault: str) -> None:
        """Label the request's logged hit with the fault it got."""
        with self._lock:
            for i in range(len(self._hits) - 1, max(-1, len(self._hits) - 500), -1):
                hit = self._hits[i]
                if hit.service == service and hit.path == request.path_qs and not hit.fault:
                    self._hits[i] = hit._replace(fault=fault)
                    return

    def hits(self, service: str | None = None) -> list[Hit]:
        """Requests seen so far (of one service), oldest first."""
        with self._lock:
            return [h for h in self._hits if service is None or h.service == service]

    def injected(self) -> Counter[str]:
        """How many times each fault was injected."""
        with self._lock:
            return Counter(h.fault for h in self._hits if h.fault)

    def clear_log(self) -> None:
        with self._lock:
            self._hits.clear()
            self.huge_sent.clear()

    def describe(self) -> str:
        """The fields that differ from the defaults, `name=value, ...` (or "none")."""
        default = Faults()
        parts = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if f.init and getattr(self, f.name) != getattr(default, f.name)
        ]
        return ", ".join(parts) or "none"

    # --- the compact spec -------------------------------------------------------------------

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """Faults from `key=value,key=value` (see SPEC_HELP); ValueError naming a bad item."""
        values: dict[str, Any] = {}
        overrides: dict[str, dict[str, Any]] = {}
        for raw in spec.split(","):
            item = raw.strip()
            if not item:
                continue
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key:
                raise ValueError(f"fault spec item {item!r} is not KEY=VALUE")
            service, colon, name = key.rpartition(":")
            if colon and service not in SERVICES:
                raise ValueError(
                    f"fault spec item {item!r}: unknown service {service!r} "
                    f"(one of {', '.join(sorted(SERVICES))})"
                )
            if name not in _PARSERS:
                raise ValueError(
                    f"fault spec item {item!r}: unknown key {name!r}; known: "
                    + ", ".join(sorted(_PARSERS))
                )
            if colon and name not in _SERVICE_KEYS:
                raise ValueError(
                    f"fault spec item {item!r}: {name!r} cannot be set for one service"
                )
            try:
                parsed = _PARSERS[name](value)
            except ValueError as exc:
                raise ValueError(f"fault spec item {item!r}: {exc}") from None
            target = overrides.setdefault(service, {}) if colon else values
            target.update(parsed)
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        assert set(values) <= known
        return cls(**values, overrides=overrides)


# --- spec parsing ------------------------------------------------------------------------------


def _rate(name: str) -> Callable[[str], dict[str, Any]]:
    def parse(value: str) -> dict[str, Any]:
        number = _float(value)
        if not 0.0 <= number <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, not {value}")
        return {name: number}

    return parse


def _float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _seconds(name: str) -> Callable[[str], dict[str, Any]]:
    def parse(value: str) -> dict[str, Any]:
        number = _float(value)
        if number < 0:
            raise ValueError(f"{name} must not be negative")
        return {name: number}

    return parse


def _int(value: str, *, minimum: int = 0) -> int:
    if not value.isascii() or not value.isdigit():
        raise ValueError(f"{value!r} is not a whole number")
    number = int(value)
    if number < minimum:
        raise ValueError(f"{value!r} must be at least {minimum}")
    return number


def _size(name: str) -> Callable[[str], dict[str, Any]]:
    def parse(value: str) -> dict[str, Any]:
        scale = {"K": 1024, "M": 1024 * 1024}.get(value[-1:].upper(), 1)
        digits = value[:-1] if scale > 1 else value
        return {name: _int(digits) * scale}

    return parse


def _burst(status: int) -> Callable[[str], dict[str, Any]]:
    def parse(value: str) -> dict[str, Any]:
        every, x, length = value.lower().partition("x")
        if not x:
            raise ValueError("expected NxK: every Nth request starts K refusals")
        return {
            "burst_every": _int(every, minimum=1),
            "burst_len": _int(length, minimum=1),
            "burst_status": status,
        }

    return parse


def _names(name: str, allowed: frozenset[str] | None = None) -> Callable[[str], dict[str, Any]]:
    def parse(value: str) -> dict[str, Any]:
        items = frozenset(v.strip() for v in value.split("+") if v.strip())
        if allowed is not None and not items <= allowed:
            raise ValueError(f"unknown {', '.join(sorted(items - allowed))}")
        return {name: items}

    return parse


def _choice(name: str, options: tuple[str, ...]) -> Callable[[str], dict[str, Any]]:
    def parse(value: str) -> dict[str, Any]:
        if value not in options:
            raise ValueError(f"{name} must be one of {', '.join(options)}")
        return {name: value}

    return parse


def _url(value: str) -> dict[str, Any]:
    if not value.startswith(("http://", "https://")):
        raise ValueError("redirect must be an http(s) URL")
    return {"redirect_to": value.rstrip("/")}


def _seed(value: str) -> dict[str, Any]:
    return {"seed": _int(value)}


def _retry_after(value: str) -> dict[str, Any]:
    return {"retry_after": _int(value)}


_PARSERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "latency": _seconds("latency"),
    "error_rate": _rate("error_rate"),
    "services": _names("error_services", SERVICES),
    "burst429": _burst(429),
    "burst503": _burst(503),
    "retry_after": _retry_after,
    "retry_after_form": _choice("retry_after_form", ("seconds", "date", "both")),
    "reset_rate": _rate("reset_rate"),
    "slow_rate": _rate("slow_rate"),
    "slow": _seconds("slow_delay"),
    "truncate_rate": _rate("truncate_rate"),
    "malformed_rate": _rate("malformed_rate"),
    "gzip_rate": _rate("corrupt_gzip_rate"),
    "corrupt": _names("corrupt_objects"),
    "huge": _names("huge_objects"),
    "huge_size": _size("huge_size"),
    "page_missing_rate": _rate("page_missing_rate"),
    "page_garbled_rate": _rate("page_garbled_rate"),
    "page_missing": _names("page_missing_jobs"),
    "page_garbled": _names("page_garbled_jobs"),
    "page_padding": _size("page_padding"),
    "padding_jobs": _names("padding_jobs"),
    "redirect": _url,
    "redirect_jobs": _names("redirect_jobs"),
    "redirect_services": _names("redirect_services", SERVICES),
    "reject_repos": _names("reject_repos"),
    "hostile": _names("hostile_jobs"),
    "deny_list": _names("deny_list_buckets"),
    "moved": _names("moved_jobs"),
    "no_prowjob": _names("no_prowjob_jobs"),
    "unlisted": _names("unlisted_jobs"),
    "seed": _seed,
}
# Keys that may be given for one service (`gcs:error_rate=0.2`): the transport faults.
_SERVICE_KEYS = frozenset(
    {
        "latency",
        "error_rate",
        "burst429",
        "burst503",
        "retry_after",
        "retry_after_form",
        "reset_rate",
        "slow_rate",
        "slow",
    }
)
_TRANSPORT = frozenset({"reset_rate", "slow_rate"})


# --- applying them -----------------------------------------------------------------------------


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
        latency = faults.get(service, "latency") if faults._applies(service) else faults.latency
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


def padding(size: int) -> str:
    """An HTML comment of about `size` bytes."""
    if size <= 0:
        return ""
    line = "<!-- padding: " + "lorem ipsum dolor sit amet " * 3 + "-->\n"
    return line * (size // len(line) + 1)
