"""Request counts of the sandbox's services, readable from any thread."""

from __future__ import annotations

import threading
from collections import Counter


class RequestCounter:
    """Thread-safe request counts by kind; the services count on their loop thread while
    tests and benchmarks read from theirs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1

    def __getitem__(self, kind: str) -> int:
        with self._lock:
            return self._counts[kind]

    def total(self) -> int:
        """All requests counted (a method, like collections.Counter.total())."""
        with self._lock:
            return sum(self._counts.values())

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()

    def __repr__(self) -> str:
        return f"RequestCounter({dict(self.snapshot())})"
