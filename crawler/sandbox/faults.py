"""Injected misbehaviour shared by the sandbox's three services: what goes wrong, drawn and
logged request by request (injection.py makes it happen, faultspec.py is the spec syntax).

One `Faults` object is read by every request, so tests can change it while the sandbox runs
(`sandbox.faults.latency = 0.2`). Every random draw comes from a generator seeded with `seed`
(one per kind of fault), so a run sees the same sequence of draws each time.

Transport faults (latency, `error_rate`, bursts, resets, slow answers) apply to the services in
`error_services`; a value can be overridden for one service (`overrides["gcs"] = {...}`, or
`gcs:burst429=100x2` in a spec). Content faults are specific to a service: GCS objects
(truncated, malformed, corrupt gzip, huge), deck pages (allBuilds missing or not JSON,
padding, redirects).

`Faults.parse("error_rate=0.1,burst429=50x3,reset_rate=0.02,latency=0.05")` builds one from
the compact spec `prow-crawler demo --faults` takes (see `faultspec.SPEC_HELP`).
"""

from __future__ import annotations

import dataclasses
import email.utils
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiohttp import web

from .faultspec import PARSERS, SERVICE_KEYS, SERVICES

# The rate faults that are transport faults (limited to `error_services`).
_TRANSPORT = frozenset({"reset_rate", "slow_rate"})


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
    feed_error: a 5xx status deck's `/prowjobs.js` answers with (0: none), a feed down.
    feed_blind_jobs: jobs whose builds `/prowjobs.js` leaves out although their pages list
        them (as for a hidden job): a crawler must not read their absence as "no builds".
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
    feed_error: int = 0
    feed_blind_jobs: frozenset[str] = frozenset()
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

    def applies(self, service: str) -> bool:
        return service in self.error_services

    def should_fail(self, service: str) -> bool:
        """Draw whether this request of `service` gets an injected 503."""
        rate = self.get(service, "error_rate")
        if rate <= 0 or not self.applies(service):
            return False
        return self._rng.random() < rate

    def burst(self, service: str) -> tuple[int, str] | None:
        """(status, Retry-After value) when this request is refused as part of a burst."""
        every, length = self.get(service, "burst_every"), self.get(service, "burst_len")
        if every <= 0 or length <= 0 or not self.applies(service):
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
        if kind in _TRANSPORT and not self.applies(service):
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
        """Faults from `key=value,key=value` (faultspec.SPEC_HELP); ValueError naming a bad item."""
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
            if name not in PARSERS:
                raise ValueError(
                    f"fault spec item {item!r}: unknown key {name!r}; known: "
                    + ", ".join(sorted(PARSERS))
                )
            if colon and name not in SERVICE_KEYS:
                raise ValueError(
                    f"fault spec item {item!r}: {name!r} cannot be set for one service"
                )
            try:
                parsed = PARSERS[name](value)
            except ValueError as exc:
                raise ValueError(f"fault spec item {item!r}: {exc}") from None
            target = overrides.setdefault(service, {}) if colon else values
            target.update(parsed)
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        assert set(values) <= known
        return cls(**values, overrides=overrides)
