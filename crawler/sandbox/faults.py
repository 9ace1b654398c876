"""Injected misbehaviour shared by the sandbox's three services.

One `Faults` object is read by every request, so tests can change it while the sandbox runs
(`sandbox.faults.latency = 0.2`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

SERVICES = frozenset({"deck", "gcs", "logilica"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Faults:
    """What the fake services do wrong.

    latency: seconds added before every response of every service.
    error_rate: share of requests answered 503 instead (seeded, so runs repeat), limited to
        `error_services`.
    reject_repos: repository full names ("org/repo") whose Logilica uploads get 422.
    """

    latency: float = 0.0
    error_rate: float = 0.0
    error_services: frozenset[str] = SERVICES
    reject_repos: frozenset[str] = frozenset()
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def should_fail(self, service: str) -> bool:
        """Draw whether this request of `service` gets an injected 503."""
        if self.error_rate <= 0 or service not in self.error_services:
            return False
        return self._rng.random() < self.error_rate


def _unavailable(service: str) -> web.Response:
    """A 503 shaped like the real service's own errors."""
    if service == "gcs":
        error = {
            "code": 503,
            "message": "Backend Error",
            "errors": [{"message": "Backend Error", "domain": "global", "reason": "backendError"}],
        }
        return web.json_response({"error": error}, status=503)
    if service == "logilica":
        return web.json_response({"error": "service unavailable"}, status=503)
    return web.Response(status=503, text="503 Service Unavailable\n")


def faults_middleware(faults: Faults, service: str) -> Callable:
    """aiohttp middleware applying `faults` to every request of one service."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if faults.latency > 0:
            await asyncio.sleep(faults.latency)  # simulated network/server delay
        if faults.should_fail(service):
            return _unavailable(service)
        return await handler(request)

    return middleware
