"""When something is tried again, and when the crawler gives up: every retry rule in one place.

- A request: connection errors, timeouts, 5xx, 408 and 429 are retried with full-jitter
  exponential backoff (the `backoff` package), MAX_TRIES in all, never sooner than the
  server's Retry-After (which also pauses every request to that host). Other 4xx are final,
  and so is an answer a server gives on purpose (deck's "failed to get job history").
- A body that does not decode is read again, DECODE_TRIES in all: cut short in transit, it
  decodes the next time; really corrupt, it never does.
- A batch Logilica refuses for good is sent again build by build, so one bad build does not
  sink the others.
- A build that failed for good in GIVE_UP_AFTER_RUNS runs (crawler.core.defaults: the job's
  state and `status` count it too) is no longer retried (nor does it
  hold the history walk open) until `--retry-failed`.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import math
import os
import random
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aiohttp
import backoff

from crawler.core.errors import RemoteError

T = TypeVar("T")
U = TypeVar("U")


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
DECODE_TRIES = 3

# Errors below the HTTP layer that a retry can fix.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    asyncio.TimeoutError,
)


class TransientError(Exception):
    """A failure worth retrying: connection trouble, timeout, 5xx, 408 or 429."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float = 0.0):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass
class RetryStats:
    retries: int = 0


class Pausable(Protocol):
    """A host's gate, which a Retry-After pauses for every request to that host."""

    def pause(self, seconds: float) -> None: ...


def permanent(status: int | None) -> bool:
    """A final HTTP answer that no retry, in this run or a later one, will change."""
    return status is not None and 400 <= status < 500 and status not in RETRYABLE_STATUS


def give_up(message: str, status: int | None = None) -> RemoteError:
    """The error for a request that failed for good or after its retries."""
    return RemoteError(message, status=status, permanent=permanent(status))


def deck_says_no(status: int, body: bytes) -> bool:
    """Deck's own answer for a job or bucket it does not know (HTTP 500 `failed to get job
    history: ...`): final, not a transient 500."""
    return status == 500 and body.lstrip().startswith(b"failed to get job history")


def send_one_by_one(exc: RemoteError, batch_size: int) -> bool:
    """Whether a refused batch is sent again build by build."""
    return exc.permanent and batch_size > 1


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


def classify_status(
    status: int, headers: Mapping[str, str], gate: Pausable | None, what: str
) -> TransientError | None:
    """A TransientError for a retryable status (pausing the host on Retry-After), else None."""
    if status not in RETRYABLE_STATUS:
        return None
    retry_after = min(parse_retry_after(headers.get("Retry-After")), RETRY_AFTER_CAP)
    if gate is not None and retry_after:
        gate.pause(retry_after)
    return TransientError(f"{what}: HTTP {status}", status=status, retry_after=retry_after)


class DecodeBudget:
    """Counts bodies that would not decode for one read; the last one allowed raises."""

    def __init__(self, stats: RetryStats | None = None) -> None:
        self.failures = 0
        self._stats = stats

    def spend(self, exc: Exception) -> None:
        """Allow another read after `exc`, or re-raise it once DECODE_TRIES are used up."""
        self.failures += 1
        if self.failures >= DECODE_TRIES:
            raise exc
        if self._stats is not None:
            self._stats.retries += 1


async def read_until_decoded(
    read: Callable[[], Awaitable[T]],
    decode: Callable[[T], U],
    *,
    undecodable: type[ValueError] = ValueError,
    stats: RetryStats | None = None,
) -> U:
    """decode(await read()), reading again while decode raises `undecodable` (an answer cut
    short or garbled on the way), DECODE_TRIES reads in all; then that error is raised."""
    budget = DecodeBudget(stats)
    while True:
        answer = await read()
        try:
            return decode(answer)
        except undecodable as exc:
            budget.spend(exc)


def _wait_gen() -> Generator[float, Any, None]:
    """Full-jitter exponential backoff that never waits less than the server's Retry-After."""
    attempt = 0
    exc = yield 0.0  # backoff primes the generator with send(None)
    while True:
        expo = min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
        attempt += 1
        retry_after = exc.retry_after if isinstance(exc, TransientError) else 0.0
        exc = yield max(retry_after, random.uniform(0, expo))


def _count_retry(details: Mapping[str, Any]) -> None:
    # backoff hands its handlers the wrapped call's arguments: invoke(func, stats).
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


async def retrying(func: Callable[[], Awaitable[T]], *, stats: RetryStats | None = None) -> T:
    """with_retries, and a RemoteError naming the last failure once the tries are used up."""
    try:
        return await with_retries(func, stats=stats)
    except TransientError as exc:
        raise give_up(f"{exc} (gave up after retries)", exc.status) from None
