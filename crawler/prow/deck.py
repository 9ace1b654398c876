"""The deck client: job-history pages fetched under each deck host's limits, then parsed."""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp

from crawler.core.jobs import Limits
from crawler.net.http import exchange
from crawler.net.limits import HostGate
from crawler.net.retry import RetryStats, deck_says_no, give_up, read_until_decoded
from crawler.prow.pages import HistoryPage, PageError, parse_history_page

# Deck pages are small HTML; cap them so a broken deck cannot exhaust memory.
MAX_PAGE_BYTES = 16 * 1024 * 1024


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

        async def read() -> str:
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
                raise give_up(f"deck {url}: HTTP {resp.status}: {first}", resp.status)
            return text

        def parse(text: str) -> HistoryPage:
            try:
                return parse_history_page(text, url)
            except PageError as exc:
                raise PageError(f"deck {url}: {exc}") from None

        return await read_until_decoded(read, parse, undecodable=PageError, stats=self._stats)
