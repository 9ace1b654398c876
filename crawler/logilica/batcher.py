"""Grouping builds of one Logilica repository into POSTs: when a batch is ready to go."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from crawler.state.ledger import BuildTask

# How long a partly filled batch waits for more builds of its repository.
BATCH_LINGER_SECONDS = 0.2


# A batch whose linger is over but that the rate cannot take yet is looked at again this often.
RATE_RECHECK_SECONDS = 0.05


@dataclass
class _Batch:
    repo_id: str
    tasks: list[BuildTask] = field(default_factory=list)
    opened: float = field(default_factory=time.monotonic)


class Batcher:
    """Groups builds of one Logilica repository into POSTs of up to `size` builds.

    A batch is ready when it is full; when nothing more can join it (no download in flight,
    or the run's downloads are over); when the batcher is at capacity; or when it has waited
    `linger` seconds and the rate limit has a slot to spare for every other open batch. The
    last rule keeps early, half-empty POSTs from using up the rate that the final flush of
    every repository needs: with a sliding-window limit, R repositories can then all go out
    the moment their builds are in. `add` blocks beyond `capacity` builds, which slows the
    downloads instead of piling builds up in memory.
    """

    def __init__(
        self,
        size: int,
        linger: float,
        *,
        capacity: int,
        free_slots: Callable[[], float] | None = None,
    ) -> None:
        self._size = size
        self._linger = linger
        self._capacity = max(capacity, size)
        self._free_slots = free_slots or (lambda: math.inf)
        self._open: dict[str, _Batch] = {}
        self._count = 0
        self._coming = 0  # builds being downloaded, which may still join a batch
        self._closed = False
        self._changed = asyncio.Condition()

    async def expect(self, builds: int) -> None:
        """`builds` more are on their way (queued for download): batches may grow."""
        async with self._changed:
            self._coming += builds

    async def landed(self) -> None:
        """One expected build's download is over (added to a batch, or failed)."""
        async with self._changed:
            self._coming -= 1
            if self._coming <= 0:  # nothing more can join a batch: every open one is ready
                self._changed.notify_all()

    async def add(self, repo_id: str, task: BuildTask) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._count < self._capacity)
            first = not self._open
            batch = self._open.setdefault(repo_id, _Batch(repo_id))
            batch.tasks.append(task)
            self._count += 1
            # Wake the uploaders only when this can change what they do: a batch just became
            # ready, or the first open batch starts the linger clock they sleep on. Waking
            # them for every build cost more CPU than the batching itself.
            if first or len(batch.tasks) == self._size or self._count >= self._capacity:
                self._changed.notify_all()

    async def get(self) -> _Batch | None:
        """The next batch to send; None once closed and empty."""
        async with self._changed:
            while True:
                batch = self._take()
                if batch is not None:
                    self._changed.notify_all()
                    return batch
                if self._closed and not self._open:
                    return None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._next_look()):
                        await self._changed.wait()

    def _ready(self, batch: _Batch, now: float) -> bool:
        if len(batch.tasks) >= self._size or self._closed or self._coming <= 0:
            return True
        if self._count >= self._capacity:
            return True  # the fullest goes, or downloads would wait for ever
        return now - batch.opened >= self._linger and self._free_slots() > len(self._open)

    def _next_look(self) -> float | None:
        """When a batch may become ready without anything being added: its linger ends, or
        (linger over, the rate short of slots) a little later, when the window has moved."""
        oldest = min((b.opened for b in self._open.values()), default=None)
        if oldest is None:
            return None
        return max(oldest + self._linger - time.monotonic(), RATE_RECHECK_SECONDS)

    def _take(self) -> _Batch | None:
        now = time.monotonic()
        ready = [b for b in self._open.values() if self._ready(b, now)]
        if not ready:
            return None
        batch = max(ready, key=lambda b: len(b.tasks))
        taken, rest = batch.tasks[: self._size], batch.tasks[self._size :]
        if rest:
            batch.tasks = rest  # keeps its age: those builds have waited as long
        else:
            del self._open[batch.repo_id]
        self._count -= len(taken)
        return _Batch(batch.repo_id, taken, batch.opened)

    async def close(self) -> None:
        """No more builds: everything open is sent at once, then get() returns None."""
        async with self._changed:
            self._closed = True
            self._changed.notify_all()
