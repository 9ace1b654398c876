"""Shared fixtures for the unit tests: HTTP mocking that works on aiohttp 3.14, fast retries,
a fake clock for the rate limiter and host gates.

aioresponses 0.7.9 builds its fake ClientResponse without the `stream_writer` argument that
aiohttp 3.14 made mandatory (pnuckowski/aioresponses#289), so every mocked request fails with
`ClientResponse.__init__() missing 1 required keyword-only argument: 'stream_writer'`.
The shim below hands aioresponses a ClientResponse subclass that supplies a finished writer
stand-in when the argument is missing; nothing else about aioresponses changes.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import aioresponses.core as _aioresponses_core
import pytest
from aioresponses import aioresponses
from yarl import URL

import crawler.net.limits
import crawler.net.retry

_NEEDS_STREAM_WRITER = (
    "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters
)


class _SentRequestWriter:
    """What ClientResponse reads from a stream writer once the request is fully sent."""

    output_size = 0


class _CompatClientResponse(aiohttp.ClientResponse):
    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _SentRequestWriter())
        super().__init__(method, url, **kwargs)


@pytest.fixture
def http_mock(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    """aioresponses, patched for aiohttp >= 3.14 when needed."""
    if _NEEDS_STREAM_WRITER:
        monkeypatch.setattr(_aioresponses_core, "ClientResponse", _CompatClientResponse)
    with aioresponses() as mock:
        yield mock


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exponential backoff of zero seconds: retries happen at once (Retry-After still counts)."""
    monkeypatch.setattr(crawler.net.retry, "BACKOFF_BASE", 0.0)


_real_sleep = asyncio.sleep


class FakeClock:
    """Monotonic time that only moves when crawler.net.limits sleeps."""

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
    fake_time = SimpleNamespace(monotonic=fake.monotonic, time=fake.time)
    monkeypatch.setattr(crawler.net.limits, "time", fake_time)
    monkeypatch.setattr(
        crawler.net.limits,
        "asyncio",
        SimpleNamespace(
            sleep=fake.sleep,
            Lock=asyncio.Lock,
            Event=asyncio.Event,
            Semaphore=asyncio.Semaphore,
            TimeoutError=asyncio.TimeoutError,
        ),
    )
    return fake
