"""crawler.net.limits: the sliding-window rate limiter and the host gates (concurrency, pause)."""

from __future__ import annotations

import asyncio
import math
import random
import time

import pytest

from crawler.net.limits import HostGate, RateLimiter
from tests.unit.conftest import FakeClock

# -- RateLimiter ----------------------------------------------------------------------------------


def most_in_window(stamps: list[float], width: float) -> int:
    """The most stamps in any half-open window [t, t + width) (the worst one starts at a stamp)."""
    return max((sum(1 for u in stamps if t <= u < t + width) for t in stamps), default=0)


def spec(rate: float) -> tuple[float, int]:
    """The documented (window, capacity) of a rate."""
    return (1.0, math.floor(rate)) if rate >= 1 else (1.0 / rate, 1)


RATES = [0.3, 0.5, 1, 1.5, 2.5, 3, 10, 50]


@pytest.mark.parametrize("rate", [0, -1, 0.0, math.nan])
def test_rate_limiter_rejects_non_positive_rates(rate: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate)


@pytest.mark.parametrize(
    ("rate", "window", "capacity"),
    [(10, 1.0, 10), (2.5, 1.0, 2), (1, 1.0, 1), (1.5, 1.0, 1), (0.5, 2.0, 1), (0.25, 4.0, 1)],
)
def test_rate_limiter_window_and_capacity(rate: float, window: float, capacity: int) -> None:
    limiter = RateLimiter(rate)
    assert (limiter.window, limiter.capacity) == (pytest.approx(window), capacity)
    # A window never holds more than the rate allows over its length.
    assert capacity <= rate * window + 1e-9


@pytest.mark.parametrize("rate", RATES)
async def test_rate_limiter_keeps_the_window_promise(clock: FakeClock, rate: float) -> None:
    """Many concurrent acquirers: no window holds more than the rate, FIFO, no idle slot."""
    limiter = RateLimiter(rate)
    window, capacity = spec(rate)
    start = clock.now
    got: dict[int, float] = {}

    async def worker(i: int) -> None:
        await limiter.acquire()
        got[i] = clock.now - start

    n = 3 * capacity + 2
    await asyncio.gather(*(worker(i) for i in range(n)))
    stamps = [got[i] for i in range(n)]
    # The promise: at most `rate` in any 1 s window (at most one for rates below 1), and at most
    # rate * window in any window of the limiter's length.
    assert most_in_window(stamps, 1.0) <= max(1, rate)
    assert most_in_window(stamps, window) <= rate * window + 1e-9
    # First come, first served, and no slot is left idle: `capacity` at once, every `window`.
    assert stamps == sorted(stamps)
    assert stamps == pytest.approx([(k // capacity) * window for k in range(n)], abs=1e-6)


@pytest.mark.parametrize("rate", RATES)
async def test_rate_limiter_with_irregular_arrivals(clock: FakeClock, rate: float) -> None:
    """Requests arriving at random times wait exactly as long as the window needs, no longer."""
    limiter = RateLimiter(rate)
    window, capacity = spec(rate)
    rng = random.Random(rate)
    stamps: list[float] = []
    expected: list[float] = []
    for k in range(200):
        clock.now += rng.choice([0.0, 0.0, rng.uniform(0, 0.4 * window), rng.uniform(0, window)])
        arrival = clock.now
        await limiter.acquire()
        stamps.append(clock.now)
        # Model: one more as soon as the capacity-th acquisition before it is a window old.
        expected.append(max(arrival, expected[k - capacity] + window if k >= capacity else 0.0))
    assert stamps == pytest.approx(expected, abs=1e-6)
    assert most_in_window(stamps, 1.0) <= max(1, rate)
    assert most_in_window(stamps, window) <= rate * window + 1e-9


async def test_idle_host_takes_the_whole_rate_at_once(clock: FakeClock) -> None:
    limiter = RateLimiter(10)
    for _ in range(10):
        await limiter.acquire()
    assert clock.sleeps == []  # 10 at once: nothing waited
    clock.now += 60.0  # idle time is not banked beyond one window's worth
    start = clock.now
    stamps = []
    for _ in range(12):
        await limiter.acquire()
        stamps.append(clock.now - start)
    assert stamps == pytest.approx([0.0] * 10 + [1.0, 1.0], abs=1e-6)


async def test_after_a_burst_the_next_waits_for_the_oldest(clock: FakeClock) -> None:
    """A sliding window: the 11th waits until the 1st is 1 s old, the 12th for the 2nd."""
    limiter = RateLimiter(10)
    start = clock.now
    await limiter.acquire()
    clock.now += 0.3
    for _ in range(9):
        await limiter.acquire()
    assert clock.now - start == pytest.approx(0.3)
    assert clock.sleeps == []
    await limiter.acquire()
    assert clock.now - start == pytest.approx(1.0, abs=1e-6)
    await limiter.acquire()
    assert clock.now - start == pytest.approx(1.3, abs=1e-6)
    assert sum(clock.sleeps) == pytest.approx(1.0, abs=1e-6)


async def test_fractional_rate_below_one_spaces_by_its_window(clock: FakeClock) -> None:
    limiter = RateLimiter(0.5)
    start = clock.now
    stamps = []
    for _ in range(3):
        await limiter.acquire()
        stamps.append(clock.now - start)
    assert stamps == pytest.approx([0.0, 2.0, 4.0], abs=1e-6)


async def test_cancelled_sleeper_takes_no_slot(clock: FakeClock) -> None:
    """Cancelled while it waits for the window (holding the lock): no slot taken, none leaked."""
    limiter = RateLimiter(2)
    start = clock.now
    await limiter.acquire()
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    clock.on_sleep = lambda c: waiter.cancel()  # cancelled in the middle of its sleep
    with pytest.raises(asyncio.CancelledError):
        await waiter
    clock.on_sleep = None
    assert clock.now - start == pytest.approx(1.0)  # its sleep moved the clock on
    # Both slots of the new window are free: the cancelled waiter took none of them.
    slept = len(clock.sleeps)
    stamps = []
    for _ in range(3):
        await asyncio.wait_for(limiter.acquire(), timeout=5)
        stamps.append(clock.now - start)
    assert stamps == pytest.approx([1.0, 1.0, 2.0], abs=1e-6)
    assert len(clock.sleeps) == slept + 1


async def test_cancelled_queued_waiter_takes_no_slot(clock: FakeClock) -> None:
    """Cancelled while queued behind another waiter: the one behind it moves up."""
    limiter = RateLimiter(1)
    start = clock.now
    await limiter.acquire()
    sleeping = asyncio.Event()
    clock.on_sleep = lambda c: sleeping.set()
    got: dict[str, float] = {}

    async def worker(name: str) -> None:
        await limiter.acquire()
        got[name] = clock.now - start

    first = asyncio.create_task(worker("first"))
    second = asyncio.create_task(worker("second"))
    third = asyncio.create_task(worker("third"))
    # `first` holds the lock, asleep; `second` and `third` started in the same loop pass and
    # are queued behind it.
    await sleeping.wait()
    assert not second.done()
    second.cancel()
    await asyncio.wait_for(asyncio.gather(first, third), timeout=5)
    with pytest.raises(asyncio.CancelledError):
        await second
    assert got == {"first": pytest.approx(1.0), "third": pytest.approx(2.0)}
    await limiter.acquire()
    assert clock.now - start == pytest.approx(3.0)


async def test_infinite_rate_is_no_limit(clock: FakeClock) -> None:
    limiter = RateLimiter(math.inf)
    for _ in range(1000):
        await limiter.acquire()
    assert clock.sleeps == []


async def test_rate_limiter_in_real_time() -> None:
    """The promise on the real monotonic clock, checked with lower bounds only.

    Each acquisition happened between the stamp taken before the call and the one after it,
    so `capacity` acquisitions later, the after-stamp is at least 1 s past the before-stamp.
    """
    limiter = RateLimiter(20)
    before: list[float] = []
    after: list[float] = []
    for _ in range(21):
        before.append(time.monotonic())
        await limiter.acquire()
        after.append(time.monotonic())
    for i in range(len(before) - 20):
        assert after[i + 20] - before[i] >= 1.0


# -- HostGate -------------------------------------------------------------------------------------


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
    assert stamps == pytest.approx([0.0, 0.0, 1.0], abs=1e-6)
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


# -- _wait_gen and with_retries -------------------------------------------------------------------


async def test_a_request_counts_until_a_window_after_it_ends(clock: FakeClock) -> None:
    """A request may reach the host any time between its start and its end: the window that
    keeps the host's count runs from its end, and requests still going hold their slots."""
    limiter = RateLimiter(2)
    start = clock.now
    began: dict[int, float] = {}
    finish = asyncio.Event()

    async def request(n: int) -> None:
        async with limiter.hold():
            began[n] = clock.now - start
            if n < 2:
                await finish.wait()

    tasks = [asyncio.create_task(request(n)) for n in range(3)]
    for _ in range(10):
        await asyncio.sleep(0)
    assert began == {0: 0.0, 1: 0.0}  # the third waits for a request to end, not a timer
    assert clock.sleeps == []
    clock.now += 5.0  # the two requests take 5 s
    finish.set()
    await asyncio.gather(*tasks)
    assert began[2] == pytest.approx(6.0, abs=1e-6)  # one window after they ended
    assert limiter.free() == 1  # the first two ended a window ago; the third just did


async def test_gate_counts_a_slow_request_from_its_end(clock: FakeClock) -> None:
    gate = HostGate("h", concurrency=4, rate=1)
    start = clock.now
    async with gate.slot():
        clock.now += 3.0  # a slow answer
    assert gate.free_slots() == 0
    async with gate.slot():
        assert clock.now - start == pytest.approx(4.0, abs=1e-6)
    assert gate.requests == 2
