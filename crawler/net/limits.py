"""Concurrency and request rates: what each remote host is allowed, shared by its clients."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from contextlib import asynccontextmanager
from typing import Any


class RateLimiter:
    """Sliding window: never more than `rate` requests in any 1 s, as the host sees them.

    The limiter remembers the requests of the last `window` seconds and lets one more start
    only while there are fewer than `capacity` of them; otherwise it waits until the oldest
    is a whole `window` old. A request counts from when it starts until `window` seconds
    after it ends (`hold`): a request's arrival at the host lies somewhere between the two,
    and connection set-up or a busy event loop can delay it after its start, so counting
    from the start alone would let a burst delayed on its way and the next, undelayed one
    land in the same second. So any `capacity` + 1 requests span at least `window` seconds
    at the host, and no window [t, t + window) there holds more than `capacity`. A host that
    has been idle takes `capacity` requests at once; nothing is spaced out.

    Counts are whole numbers, which settles the two kinds of fractional rate:

    - rate >= 1: window 1 s, capacity floor(rate). A fraction is rounded down (2.5/s allows
      2 in any 1 s), since 3 in one second would already break "at most 2.5 in any 1 s".
    - rate < 1: window 1/rate s, capacity 1, i.e. requests at least 1/rate apart
      (0.5/s: one in any 2 s). Any 1 s window then holds at most one.

    An infinite rate means no limit. Waiters are served first come, first served (one at a
    time, under a fair lock), and one cancelled while it waits takes no slot.
    """

    def __init__(self, rate: float) -> None:
        if not rate > 0:  # also rejects NaN
            raise ValueError("rate must be positive")
        self.rate = rate
        if math.isinf(rate):
            self.window, self.capacity = 0.0, 0
        elif rate >= 1:
            self.window, self.capacity = 1.0, math.floor(rate)
        else:
            self.window, self.capacity = 1.0 / rate, 1
        # When the requests of the last `window` seconds ended, oldest first, and how many
        # are still going: together never more than `capacity`, however long the run.
        self._stamps: deque[float] = deque()
        self._busy = 0
        self._ended = asyncio.Event()
        self._lock = asyncio.Lock()

    def _expire(self, now: float) -> None:
        stamps = self._stamps
        while stamps and now >= stamps[0] + self.window:
            stamps.popleft()

    def free(self) -> float:
        """Requests that could start at once now (infinite without a limit)."""
        if not self.capacity:
            return math.inf
        self._expire(time.monotonic())
        return self.capacity - self._busy - len(self._stamps)

    async def _admit(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._expire(now)
                if self._busy + len(self._stamps) < self.capacity:
                    self._busy += 1
                    return
                # Re-checked after waking (a timer may fire a hair early). Cancelled here, the
                # lock is released and nothing was recorded, so no slot is taken.
                if self._stamps:
                    await asyncio.sleep(self._stamps[0] + self.window - now)
                else:  # every slot is a request still going: its end starts its window
                    self._ended.clear()
                    await self._ended.wait()

    def _end(self) -> None:
        self._busy -= 1
        self._stamps.append(time.monotonic())
        self._ended.set()

    @asynccontextmanager
    async def hold(self) -> Any:
        """One request, from its start until it ends; it counts for `window` seconds more."""
        if not self.capacity:
            yield
            return
        await self._admit()
        try:
            yield
        finally:
            self._end()

    async def acquire(self) -> None:
        """One request that takes no time (it starts and ends now)."""
        if self.capacity:
            await self._admit()
            self._end()


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

    def free_slots(self) -> float:
        """Requests the host's rate would let through at once now (0 while it is paused)."""
        if self._paused_until > time.monotonic():
            return 0
        return self._rate.free() if self._rate is not None else math.inf

    @asynccontextmanager
    async def slot(self) -> Any:
        async with self._sem:
            # The pause can be extended while we sleep (another 429), so re-check after waking.
            while (delay := self._paused_until - time.monotonic()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(delay)
            if self._rate is None:
                self.requests += 1
                yield
                return
            async with self._rate.hold():
                self.requests += 1
                yield
