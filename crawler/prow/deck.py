"""The deck client: job-history pages and the ProwJob feed, fetched under each deck host's
limits, then parsed (the feed as it streams in)."""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp

from crawler.core.errors import RemoteError
from crawler.core.jobs import Limits
from crawler.net.http import exchange
from crawler.net.limits import HostGate
from crawler.net.retry import (
    NETWORK_ERRORS,
    RetryStats,
    TransientError,
    classify_status,
    deck_says_no,
    give_up,
    read_until_decoded,
    retrying,
)
from crawler.prow.feed import Feed, FeedError, FeedParser
from crawler.prow.pages import HistoryPage, PageError, parse_history_page

# Deck pages are small HTML; cap them so a broken deck cannot exhaust memory.
MAX_PAGE_BYTES = 16 * 1024 * 1024
# Every ProwJob deck knows, without the fields we never read (docs/formats.md).
FEED_PATH = "/prowjobs.js?omit=annotations,labels,decoration_config,pod_spec"
# How long one read of the feed may take: megabytes on a busy deck, so more than a page.
FEED_TIMEOUT_FACTOR = 4


class FeedUnavailable(Exception):
    """The feed could not be read (after retries) or used: `reason` says why, once per run."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class DeckClient:
    """GET and parse job-history pages; one gate (concurrency, rate, Retry-After) per host."""

    def __init__(self, session: aiohttp.ClientSession, limits: Limits, stats: RetryStats) -> None:
        self._session = session
        self._limits = limits
        self._stats = stats
        self._gates: dict[str, HostGate] = {}
        self.feed_requests = 0

    @property
    def requests(self) -> int:
        """Every request to deck: pages and feeds."""
        return sum(g.requests for g in self._gates.values()) + self.feed_requests

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

    async def feed(self, base: str) -> Feed:
        """Deck's ProwJob feed at `base` (https://HOST), parsed as it streams in (flat memory:
        a small record per build). FeedUnavailable when it cannot be read or used."""
        url = base.rstrip("/") + FEED_PATH
        what = f"deck feed {base}"
        pages = self._gate(url)
        # Once a run, apart from deck_rps (job-history pages): taking a page slot would hold
        # back the pages of the run's first second. A Retry-After still pauses the pages.
        feed_gate = HostGate(what, 1)

        async def attempt() -> Feed:
            async with feed_gate.slot():
                self.feed_requests += 1
                try:
                    async with self._session.get(
                        url,
                        headers={"Accept-Encoding": "gzip"},
                        allow_redirects=False,
                        timeout=aiohttp.ClientTimeout(
                            total=self._limits.timeout * FEED_TIMEOUT_FACTOR
                        ),
                    ) as resp:
                        transient = classify_status(resp.status, resp.headers, pages, what)
                        if transient is not None:
                            raise transient
                        if resp.status != 200:
                            raise give_up(f"{what}: HTTP {resp.status}", resp.status)
                        parser = FeedParser()
                        async for chunk in resp.content.iter_chunked(256 * 1024):
                            parser.feed(chunk)
                        return parser.close()
                except NETWORK_ERRORS as exc:
                    raise TransientError(f"{what}: {type(exc).__name__}: {exc}") from None

        try:
            return await retrying(attempt, stats=self._stats)
        except (RemoteError, FeedError) as exc:
            raise FeedUnavailable(str(exc)) from None
