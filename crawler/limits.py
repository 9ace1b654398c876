"""Concurrency bounds, request rates and the retry rule shared by every remote client."""

from __future__ import annotations

import asyncio
import email.utils
import functools
import math
import os
import random
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import backoff

T = TypeVar("T")


def _env_seconds(name: str, default: float) -> float:
    """A non-negative number of seconds from the environment, else `default`."""
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if math.isfinite(value) and value >= 0 else default


# The old script promised 7 attempts; a cron run should not hang on one build for long.
MAX_TRIES = 7
# PROW_CRAWLER_BACKOFF_BASE (seconds, a number >= 0) overrides the first backoff step; tests
# against the sandbox set it small so chaos runs take seconds. Retry-After is still honoured.
BACKOFF_BASE = _env_seconds("PROW_CRAWLER_BACKOFF_BASE", 0.5)
BACKOFF_CAP = 30.0
# A Retry-After longer than this is treated as "not in this run": fail the request instead.
RETRY_AFTER_CAP = 120.0
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class TransientError(Exception):
    """A failure worth retrying: connection trouble, timeout, 5xx, 408 or 429."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float = 0.0):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def parse_retry_after(value: str | None, *, now: float | None = None) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); 0 if absent."""
    if not value:
        return 0.0
    value = value.strip()
    # HTTP's delta-seconds is ASCII digits; str.isdigit() alone also accepts '²', which float()
    # refuses, and a header must never crash the request.
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when is None:
        return 0.0
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RateLimiter:
    """Token bucket: at most `rate` acquisitions per second on average, bursts of `burst`.

    With burst 1 no two acquisitions are closer than 1/rate, so no 1 s window sees more
    than `rate` requests (rounded up).
    """

    def __init__(self, rate: float, burst: int = 1) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        # One waiter at a time keeps the order fair and the arithmetic simple.
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self._tokens) / self.rate)


class HostGate:
    """Per-host limits: a concurrency cap, an optional rate, and a shared Retry-After pause.

    A 429 or 503 with Retry-After pauses every request to the host, not just the one that
    got it: hammering a host that asked us to wait only earns more 429s.
    """

    def __init__(self, name: str, concurrency: int, rate: float | None = None) -> None:
        self.name = name
        self._sem = asyncio.Semaphore(concurrency)
        self._rate = RateLimiter(rate) if rate else None
        self._paused_until = 0.0
        self.requests = 0

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    @asynccontextmanager
    async def slot(self) -> Any:
        async with self._sem:
            # The pause can be extended while we sleep (another 429), so re-check after waking.
            while (delay := self._paused_until - time.monotonic()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(delay)
            if self._rate is not None:
                await self._rate.acquire()
            self.requests += 1
            yield


def _wait_gen() -> Generator[float, Any, None]:
    """Full-jitter exponential backoff that never waits less than the server's Retry-After."""
    attempt = 0
    exc = yield 0.0  # backoff primes the generator with send(None)
    while True:
        expo = min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
        attempt += 1
        retry_after = exc.retry_after if isinstance(exc, TransientError) else 0.0
        exc = yield max(retry_after, random.uniform(0, expo))


@dataclass
class RetryStats:
    retries: int = 0


def _count_retry(details: Mapping[str, Any]) -> None:
    stats = details["args"][1]
    if stats is not None:
        stats.retries += 1


@functools.cache
def _retrier(tries: int) -> Callable[..., Awaitable[Any]]:
    """One backoff-decorated invoker per tries value: decorating per request would rebuild the
    wrapper (functools.update_wrapper, inspect) thousands of times a second."""

    # backoff picks its async retry loop only for coroutine *functions*, so the awaitable
    # factory is called inside one.
    async def invoke(func: Callable[[], Awaitable[Any]], _stats: RetryStats | None) -> Any:
        return await func()

    return backoff.on_exception(
        lambda: _wait_gen(),  # looked up per call, so tests can swap the wait rule
        TransientError,
        max_tries=tries,
        jitter=None,
        on_backoff=_count_retry,
        logger=None,
    )(invoke)


def with_retries(
    func: Callable[[], Awaitable[T]], *, tries: int = MAX_TRIES, stats: RetryStats | None = None
) -> Awaitable[T]:
    """Run `func` until it succeeds, retrying TransientError with backoff (max `tries`)."""
    return _retrier(tries)(func, stats)


def classify_status(
    status: int, headers: Mapping[str, str], gate: HostGate | None, what: str
) -> TransientError | None:
    """A TransientError for a retryable status (pausing the host on Retry-After), else None."""
    if status not in RETRYABLE_STATUS:
        return None
    retry_after = parse_retry_after(headers.get("Retry-After"))
    if retry_after > RETRY_AFTER_CAP:
        retry_after = RETRY_AFTER_CAP
    if gate is not None and retry_after:
        gate.pause(retry_after)
    return TransientError(f"{what}: HTTP {status}", status=status, retry_after=retry_after)


# Errors below the HTTP layer that a retry can fix.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    asyncio.TimeoutError,
)
