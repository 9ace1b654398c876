"""crawler.limits: the token bucket and host gates (concurrency, rate, Retry-After pause)."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from crawler.limits import HostGate, RateLimiter
from tests.unit.conftest import FakeClock

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
