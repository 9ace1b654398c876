"""The deck client: job-history pages fetched under each deck host's limits, then parsed."""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp

from crawler.config import Limits
from crawler.errors import RemoteError
from crawler.http import exchange
from crawler.limits import HostGate, RetryStats
from crawler.prow import HistoryPage, PageError, parse_history_page

# Deck pages are small HTML; cap them so a broken deck cannot exhaust memory.
MAX_PAGE_BYTES = 16 * 1024 * 1024
# A page that does not parse is fetched this many times in all: a body cut short in transit
# parses the next time, a broken deck never does.
PAGE_TRIES = 3


def deck_says_no(status: int, body: bytes) -> bool:
    """Deck's own answer for a job or bucket it does not know (HTTP 500 `failed to get job
    history: ...`): final, not a transient 500 worth retrying."""
    return status == 500 and body.lstrip().startswith(b"failed to get job history")


class DeckClient:
    """GET and parse job-history pages; one gate (concurrency, rate, Retry-After) per host."""

    def __init__(self, session: aiohttp.ClientSession, limits: Limits, stats: RetryStats) -> None:
        self._session = session
        self._limits = limits
        self._stats = stats
        self._gates: dict[str, HostGate] = {}

    @property
    def requests(self) -> int:
        return sum(g.requests for g in self._gates.values())

    def _gate(self, url: str) -> HostGate:
        host = urlsplit(url).netloc
        if host not in self._gates:
            lim = self._limits
            self._gates[host] = HostGate(f"deck {host}", lim.deck_concurrency, lim.deck_rps)
        return self._gates[host]

    async def page(self, url: str) -> HistoryPage:
        """One history page; RemoteError (with deck's words) or PageError if unusable."""
        for attempt in range(1, PAGE_TRIES + 1):
            resp = await exchange(
                self._session,
                self._gate(url),
                "GET",
                url,
                what=f"deck {url}",
                cap=MAX_PAGE_BYTES,
                timeout=self._limits.timeout,
                stats=self._stats,
                final=deck_says_no,
            )
            text = resp.body.decode("utf-8", "replace")
            if resp.status != 200:
                first = text.strip().splitlines()[0][:300] if text.strip() else ""
                raise RemoteError(f"deck {url}: HTTP {resp.status}: {first}", status=resp.status)
            try:
                return parse_history_page(text, url)
            except PageError as exc:
                if attempt == PAGE_TRIES:
                    raise PageError(f"deck {url}: {exc}") from None
                self._stats.retries += 1
        raise AssertionError("unreachable")
