"""crawler.limits: Retry-After, the token bucket, host gates and the retry rule."""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import time
from collections.abc import Generator
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crawler.limits as limits
from crawler.limits import (
    BACKOFF_CAP,
    MAX_TRIES,
    RETRY_AFTER_CAP,
    HostGate,
    RateLimiter,
    RetryStats,
    TransientError,
    classify_status,
    parse_retry_after,
    with_retries,
)

_real_sleep = asyncio.sleep


class FakeClock:
    """Monotonic time that only moves when crawler.limits sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep: Any = None

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        # Like a real clock, time moves on by at least a little: a sleep shorter than the
        # float resolution at `now` would otherwise leave the clock where it was.
        self.now += max(1e-9, delay)
        if self.on_sleep is not None:
            self.on_sleep(self)
        await _real_sleep(0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(limits, "time", SimpleNamespace(monotonic=fake.monotonic, time=fake.time))
    monkeypatch.setattr(
        limits,
        "asyncio",
        SimpleNamespace(
            sleep=fake.sleep,
            Lock=asyncio.Lock,
            Semaphore=asyncio.Semaphore,
            TimeoutError=asyncio.TimeoutError,
        ),
    )
    return fake


# -- parse_retry_after ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 0.0),
        ("", 0.0),
        ("0", 0.0),
        ("7", 7.0),
        ("  120 ", 120.0),
        ("86400", 86400.0),
        ("1.5", 0.0),  # not a valid delta-seconds
        ("-3", 0.0),
        ("soon", 0.0),
        ("Mon, 99 Foo 2020", 0.0),
        ("\u00b2", 0.0),  # str.isdigit() is true for superscript two; float() is not
        ("\u0663", 0.0),  # Arabic-Indic three: not HTTP's DIGIT
    ],
)
def test_parse_retry_after_delta_seconds_and_garbage(value: str | None, expected: float) -> None:
    assert parse_retry_after(value, now=0.0) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_445_412_400.0  # 80 s before the date below
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == pytest.approx(80.0)


def test_parse_retry_after_http_date_in_the_past_is_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=2_000_000_000.0) == 0.0


def test_parse_retry_after_http_date_against_the_wall_clock() -> None:
    when = email.utils.formatdate(time.time() + 3600, usegmt=True)
    assert 3500 <= parse_retry_after(when) <= 3601


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.text(max_size=40), st.from_regex(r"\s*[0-9]{1,6}\s*", fullmatch=True)))
def test_parse_retry_after_never_raises(value: str) -> None:
    seconds = parse_retry_after(value, now=1_700_000_000.0)
    assert isinstance(seconds, float)
    assert seconds >= 0.0


# -- RateLimiter ------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0, -1, 0.0])
def test_rate_limiter_rejects_non_positive_rates(rate: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate)


async def test_rate_limiter_spaces_acquisitions(clock: FakeClock) -> None:
    limiter = RateLimiter(10)
    start = clock.now
    stamps = []
    for _ in range(5):
        await limiter.acquire()
        stamps.append(clock.now - start)
    assert stamps[0] == 0.0
    assert stamps == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4], abs=1e-6)


async def test_rate_limiter_allows_a_burst_then_the_rate(clock: FakeClock) -> None:
    limiter = RateLimiter(4, burst=3)
    start = clock.now
    stamps = []
    for _ in range(5):
        await limiter.acquire()
        stamps.append(clock.now - start)
    assert stamps == pytest.approx([0.0, 0.0, 0.0, 0.25, 0.5], abs=1e-6)


async def test_rate_limiter_does_not_bank_idle_time(clock: FakeClock) -> None:
    limiter = RateLimiter(10, burst=2)
    await limiter.acquire()
    clock.now += 60.0  # a long idle spell refills at most `burst` tokens
    start = clock.now
    stamps = []
    for _ in range(4):
        await limiter.acquire()
        stamps.append(clock.now - start)
    assert stamps == pytest.approx([0.0, 0.0, 0.1, 0.2], abs=1e-6)


async def test_rate_limiter_is_shared_by_concurrent_tasks(clock: FakeClock) -> None:
    limiter = RateLimiter(5)
    start = clock.now
    stamps: list[float] = []

    async def worker() -> None:
        await limiter.acquire()
        stamps.append(clock.now - start)

    await asyncio.gather(*(worker() for _ in range(6)))
    assert sorted(stamps) == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], abs=1e-6)
    # No 1 s window holds more than `rate` acquisitions.
    for s in stamps:
        assert sum(1 for t in stamps if s <= t < s + 1.0 - 1e-9) <= 5


async def test_rate_limiter_in_real_time() -> None:
    """10 acquisitions at 50/s cannot take less than 9 gaps of 20 ms (lower bound only)."""
    limiter = RateLimiter(50)
    stamps = []
    for _ in range(10):
        await limiter.acquire()
        stamps.append(time.monotonic())
    assert stamps[-1] - stamps[0] >= 0.17
    # No gap much shorter than 1/rate (small tolerance for clock granularity).
    assert min(b - a for a, b in itertools.pairwise(stamps)) >= 0.015


# -- HostGate ---------------------------------------------------------------------------------


async def test_gate_pause_delays_the_next_request(clock: FakeClock) -> None:
    gate = HostGate("deck", 4)
    start = clock.now
    gate.pause(5.0)
    async with gate.slot():
        entered = clock.now
    assert entered - start >= 5.0
    assert gate.requests == 1
    # Once the pause is over, requests go straight through.
    before = clock.now
    async with gate.slot():
        assert clock.now == before


async def test_gate_pause_only_extends(clock: FakeClock) -> None:
    gate = HostGate("deck", 4)
    start = clock.now
    gate.pause(5.0)
    gate.pause(1.0)  # a shorter Retry-After does not cut the pause short
    gate.pause(0.0)
    gate.pause(-3.0)
    async with gate.slot():
        assert clock.now - start >= 5.0
        assert clock.now - start < 5.5


async def test_gate_pause_extended_while_waiting(clock: FakeClock) -> None:
    gate = HostGate("deck", 4)
    start = clock.now
    gate.pause(2.0)
    extended = []

    def another_429(c: FakeClock) -> None:
        if not extended:
            extended.append(c.now)
            gate.pause(3.0)

    clock.on_sleep = another_429
    async with gate.slot():
        entered = clock.now
    # Re-checked after waking: waits for the extension too (2 s, then 3 s more).
    assert entered - start >= 5.0


async def test_gate_rate_limits_requests(clock: FakeClock) -> None:
    gate = HostGate("logilica", 8, rate=2)
    start = clock.now
    stamps = []
    for _ in range(3):
        async with gate.slot():
            stamps.append(clock.now - start)
    assert stamps == pytest.approx([0.0, 0.5, 1.0], abs=1e-6)
    assert gate.requests == 3


async def test_gate_caps_concurrency() -> None:
    gate = HostGate("gcs", 2)
    release = asyncio.Event()
    active = 0
    peak = 0
    two_inside = asyncio.Event()

    async def request() -> None:
        nonlocal active, peak
        async with gate.slot():
            active += 1
            peak = max(peak, active)
            if active == 2:
                two_inside.set()
            await release.wait()
            active -= 1

    tasks = [asyncio.create_task(request()) for _ in range(5)]
    await asyncio.wait_for(two_inside.wait(), timeout=5)
    for _ in range(10):  # give the other three every chance to (wrongly) get in
        await asyncio.sleep(0)
    assert active == 2
    assert gate.requests == 2
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
    assert peak == 2
    assert gate.requests == 5


# -- _wait_gen and with_retries ---------------------------------------------------------------


@pytest.fixture
def no_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """uniform(0, x) -> x: the backoff waits at their upper bound, deterministically."""
    monkeypatch.setattr(limits, "random", SimpleNamespace(uniform=lambda _a, b: b))


def test_wait_gen_is_capped_exponential(no_jitter: None) -> None:
    gen = limits._wait_gen()
    assert gen.send(None) == 0.0
    err = TransientError("x")
    waits = [gen.send(err) for _ in range(10)]
    assert waits[:6] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    assert waits[6:] == [BACKOFF_CAP] * 4


def test_wait_gen_honours_retry_after(no_jitter: None) -> None:
    gen = limits._wait_gen()
    gen.send(None)
    assert gen.send(TransientError("429", status=429, retry_after=10.0)) == 10.0
    assert gen.send(TransientError("503")) == 1.0
    # A Retry-After shorter than the backoff does not shorten it.
    assert gen.send(TransientError("429", retry_after=0.5)) == 2.0
    # Exceptions that are not ours carry no Retry-After.
    assert gen.send(ValueError("x")) == 4.0


def test_wait_gen_jitter_stays_within_bounds() -> None:
    gen = limits._wait_gen()
    gen.send(None)
    for attempt in range(12):
        wait = gen.send(TransientError("x", retry_after=0.25))
        assert 0.25 <= wait <= max(0.25, min(BACKOFF_CAP, 0.5 * 2**attempt))


class Flaky:
    """Fails with the given exceptions, then returns 'ok'; counts calls."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_with_retries_retries_transient_errors(fast_retries: None) -> None:
    func = Flaky(TransientError("503", status=503), TransientError("timeout"))
    stats = RetryStats()
    assert await with_retries(func, stats=stats) == "ok"
    assert func.calls == 3
    assert stats.retries == 2


async def test_with_retries_gives_up_after_max_tries(fast_retries: None) -> None:
    func = Flaky(*(TransientError(f"try {n}", status=503) for n in range(20)))
    stats = RetryStats()
    with pytest.raises(TransientError, match="try 6"):
        await with_retries(func, stats=stats)
    assert MAX_TRIES == 7
    assert func.calls == MAX_TRIES
    assert stats.retries == MAX_TRIES - 1


async def test_with_retries_custom_tries(fast_retries: None) -> None:
    func = Flaky(*(TransientError("x") for _ in range(5)))
    with pytest.raises(TransientError):
        await with_retries(func, tries=2)
    assert func.calls == 2


async def test_with_retries_does_not_retry_other_errors(fast_retries: None) -> None:
    func = Flaky(ValueError("permanent"))
    stats = RetryStats()
    with pytest.raises(ValueError, match="permanent"):
        await with_retries(func, stats=stats)
    assert func.calls == 1
    assert stats.retries == 0


async def test_with_retries_waits_for_retry_after(
    fast_retries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    original = limits._wait_gen

    def recording_wait_gen() -> Generator[float, Any, None]:
        gen = original()
        value = gen.send(None)
        while True:
            exc = yield value
            value = gen.send(exc)
            waits.append(value)

    monkeypatch.setattr(limits, "_wait_gen", recording_wait_gen)
    func = Flaky(
        TransientError("429", status=429, retry_after=0.08),
        TransientError("429", status=429, retry_after=0.08),
    )
    start = time.monotonic()
    assert await with_retries(func) == "ok"
    assert time.monotonic() - start >= 0.15
    assert waits == [0.08, 0.08]


# -- classify_status --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 204, 301, 400, 401, 403, 404, 409, 422, 501])
def test_classify_status_not_retryable(status: int) -> None:
    assert classify_status(status, {}, None, "x") is None


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_classify_status_retryable(status: int, clock: FakeClock) -> None:
    gate = HostGate("h", 1)
    err = classify_status(status, {}, gate, "GET x")
    assert isinstance(err, TransientError)
    assert err.status == status
    assert err.retry_after == 0.0
    assert str(err) == f"GET x: HTTP {status}"
    assert gate._paused_until == 0.0


async def test_classify_status_pauses_the_gate(clock: FakeClock) -> None:
    gate = HostGate("h", 1)
    err = classify_status(429, {"Retry-After": "30"}, gate, "x")
    assert err is not None and err.retry_after == 30.0
    start = clock.now
    async with gate.slot():
        assert clock.now - start >= 30.0


def test_classify_status_caps_retry_after(clock: FakeClock) -> None:
    gate = HostGate("h", 1)
    err = classify_status(503, {"Retry-After": "86400"}, gate, "x")
    assert err is not None and err.retry_after == RETRY_AFTER_CAP
    assert gate._paused_until == pytest.approx(clock.now + RETRY_AFTER_CAP)


async def test_with_retries_accepts_any_callable_returning_an_awaitable(
    fast_retries: None,
) -> None:
    """Not just `async def` functions: backoff alone would not retry a lambda or an object."""
    func = Flaky(TransientError("x"), TransientError("y"))
    assert await with_retries(lambda: func()) == "ok"
    assert func.calls == 3
