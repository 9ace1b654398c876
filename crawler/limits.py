"""Concurrency and request rates: what each remote host is allowed, shared by its clients."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from contextlib import asynccontextmanager
from typing import Any


class RateLimiter:
    """Sliding window: never more than `rate` acquisitions in any 1 s of monotonic time.

    The limiter remembers the acquisitions of the last `window` seconds and lets one more
    through only while there are fewer than `capacity` of them; otherwise it waits until the
    oldest is a whole `window` old. So any `capacity` + 1 consecutive acquisitions span at
    least `window` seconds, and no half-open window [t, t + window) holds more than
    `capacity` of them, wherever t lies. A host that has been idle for `window` seconds takes
    `capacity` requests at once; nothing is spaced out.

    Counts are whole numbers, which settles the two kinds of fractional rate:

    - rate >= 1: window 1 s, capacity floor(rate). A fraction is rounded down (2.5/s allows
      2 in any 1 s), since 3 in one second would already break "at most 2.5 in any 1 s".
    - rate < 1: window 1/rate s, capacity 1, i.e. acquisitions at least 1/rate apart
      (0.5/s: one in any 2 s). Any 1 s window then holds at most one.

    Either way a window of `window` seconds holds at most rate * window acquisitions.
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
        # The monotonic times of the acquisitions less than `window` ago, oldest first: at most
        # `capacity` of them, however high the rate and however long the run.
        self._stamps: deque[float] = deque()
        self._lock = asyncio.Lock()

    def free(self) -> float:
        """Acquisitions that would go through at once now (infinite without a limit)."""
        if not self.capacity:
            return math.inf
        now = time.monotonic()
        recent = sum(1 for stamp in self._stamps if now < stamp + self.window)
        return self.capacity - recent

    async def acquire(self) -> None:
        if not self.capacity:
            return
        stamps = self._stamps
        async with self._lock:
            while True:
                now = time.monotonic()
                while stamps and now >= stamps[0] + self.window:
                    stamps.popleft()
                if len(stamps) < self.capacity:
                    break
                # Re-checked after waking (a timer may fire a hair early). Cancelled here, the
                # lock is released and nothing was recorded, so no slot is taken.
                await asyncio.sleep(stamps[0] + self.window - now)
            stamps.append(now)


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
            if self._rate is not None:
                await self._rate.acquire()
            self.requests += 1
            yield
