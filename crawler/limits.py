"""Concurrency and request rates: what each remote host is allowed, shared by its clients."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import Any


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
