"""Deck's ProwJob feed (`/prowjobs.js`): a streaming parser and the coverage rule. Pure: the
caller fetches (and un-gzips) the body and feeds its bytes in (docs/formats.md#decks-prowjob-feed).

The feed lists every ProwJob deck knows (OpenShift: ~28,000, megabytes of JSON) with no paging,
so it is parsed as it arrives, one item at a time, keeping only a small FeedBuild per build.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import ijson

from crawler.prow.feed_items import NO_BUILD_YET, FeedBuild, item_to_build
from crawler.prow.jsondepth import DepthGuard

__all__ = [
    "MAX_DEPTH",
    "MAX_FEED_BYTES",
    "Feed",
    "FeedBuild",
    "FeedError",
    "FeedParser",
    "feed_coverage",
    "parse_feed",
]

# The most feed text read (after gunzip): OpenShift's is ~15 MB with nothing omitted, so this
# only bounds the time a runaway or hostile body can take.
MAX_FEED_BYTES = 128 * 1024 * 1024
# A ProwJob nests ~15 levels (pod_spec affinity); far deeper is hostile, and costs ijson time
# in proportion to depth at every event.
MAX_DEPTH = 64
# `?var=X` wraps the object as `var X = {...};` (deck's writeJSONResponse).
_VAR = re.compile(rb"var[ \t\r\n]+[A-Za-z_$][A-Za-z0-9_$]*[ \t\r\n]*=")
_MAX_HEAD = 256
_WHITESPACE = b" \t\r\n"
_MAX_TAIL = 1024


class FeedError(ValueError):
    """The feed cannot be used at all (not JSON, over the cap, no items): `reason` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Feed:
    """What one read of the feed holds.

    `jobs`: job -> its builds, newest first (startTime, then ID). `coverage`: the feed holds
    every build of a listed job that started at or after it (None: no such claim can be made).
    `items` counts every item; `skipped` those refused, with `reasons`; `waiting` those with
    no build ID yet (triggered, scheduling): not builds, nothing to read.
    """

    jobs: dict[str, tuple[FeedBuild, ...]]
    coverage: float | None
    items: int
    skipped: int
    waiting: int
    reasons: dict[str, int] = field(default_factory=dict)

    @functools.cached_property
    def newest_start(self) -> float:
        """The latest start the feed lists: a build that started after it came too late to
        be in this read of the feed (computed once; every job's trust check asks)."""
        return max((builds[0].started for builds in self.jobs.values() if builds), default=0.0)

    def builds(self, job: str) -> tuple[FeedBuild, ...]:
        return self.jobs.get(job, ())

    def covers(self, job: str, started: float) -> bool:
        """Whether the feed lists every build of `job` started at or after `started`.

        Only for a job the feed lists: deck leaves hidden jobs out, so an absent job may be
        hidden rather than idle, and only its job-history page can tell.
        """
        return self.coverage is not None and job in self.jobs and started >= self.coverage


def feed_coverage(builds: Iterable[FeedBuild]) -> float | None:
    """C: the oldest start among finished builds that sinker would delete by age.

    Sinker deletes finished ProwJobs by startTime age but keeps the newest finished run of each
    periodic, however old: that one proves nothing about the window, so it is left out.
    Running builds are never deleted by age and prove nothing either. None: no such build.
    """
    finished = [b for b in builds if b.finished]
    newest: dict[str, FeedBuild] = {}
    for build in finished:
        if build.type == "periodic":
            kept = newest.get(build.job)
            if kept is None or (build.started, build.key) > (kept.started, kept.key):
                newest[build.job] = build
    spared = {id(b) for b in newest.values()}
    return min((b.started for b in finished if id(b) not in spared), default=None)


class FeedParser:
    """Turns the feed's bytes, chunk by chunk, into a Feed; memory stays flat in the number of
    items (one item is held at a time, then reduced to a FeedBuild).

    Takes `{"items": [...]}` and `var X = {...};`. `feed` and `close` raise FeedError.
    """

    def __init__(self, cap: int = MAX_FEED_BYTES) -> None:
        self._cap = cap
        self._size = 0
        self._head: bytes | None = b""  # bytes before the JSON text; None once it started
        self._var = False
        self._tail = b""  # in `var` form: a held-back `;` that may end the text
        self._depth = DepthGuard(MAX_DEPTH)
        self._items = ijson.sendable_list()
        self._coro = ijson.items_coro(self._items, "items.item", use_float=True)
        self._jobs: dict[str, dict[str, FeedBuild]] = {}
        self._reasons: Counter[str] = Counter()
        self._count = 0
        self._waiting = 0

    def feed(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._cap:
            raise FeedError(f"the feed is larger than the {self._cap}-byte cap")
        if self._head is not None:
            start = self._start(self._head + chunk)
            if start is None:
                return
            chunk = start
        if self._var:
            chunk = self._hold_tail(self._tail + chunk)
        self._send(chunk)

    def close(self) -> Feed:
        if self._head is not None:
            raise FeedError("the feed is empty" if not self._head else "the feed is not JSON")
        if self._var and self._tail.strip(_WHITESPACE) not in (b"", b";"):
            raise FeedError("the feed is not JSON (text after `var X = {...};`)")
        try:
            self._coro.close()
        except ijson.JSONError as exc:
            raise FeedError(f"the feed is not JSON ({_first_line(exc)})") from None
        self._take_items()
        if self._count == 0:
            raise FeedError('the feed lists no ProwJobs (expected {"items": [...]})')
        jobs = {
            job: tuple(sorted(builds.values(), key=lambda b: (b.started, b.key), reverse=True))
            for job, builds in self._jobs.items()
        }
        return Feed(
            jobs=jobs,
            coverage=feed_coverage(b for builds in jobs.values() for b in builds),
            items=self._count,
            skipped=sum(self._reasons.values()),
            waiting=self._waiting,
            reasons=dict(self._reasons),
        )

    def _start(self, data: bytes) -> bytes | None:
        """The JSON text once its start is known (after a `var X =`); None: need more bytes."""
        data = data.lstrip(_WHITESPACE)
        if not data.startswith(b"v"):
            self._head = None if data else b""
            return data or None
        match = _VAR.match(data)
        if match is None:
            if len(data) < _MAX_HEAD and b"=" not in data:
                self._head = data
                return None
            raise FeedError("the feed is not JSON (nor `var X = {...};`)")
        self._head, self._var = None, True
        return data[match.end() :]

    def _hold_tail(self, data: bytes) -> bytes:
        """Keep back a trailing `;` (and what follows): JSON would refuse it at the end, while
        inside a string it is text, fed on with the next chunk."""
        body = data.rstrip(_WHITESPACE + b";")
        semicolon = data.find(b";", len(body))
        if semicolon < 0 or len(data) - semicolon > _MAX_TAIL:
            self._tail = b""
            return data
        self._tail = data[semicolon:]
        return data[:semicolon]

    def _send(self, chunk: bytes) -> None:
        if not chunk:
            return  # ijson takes an empty chunk as the end of the text
        try:
            self._depth.feed(chunk)
        except ValueError as exc:
            raise FeedError(f"the feed is not a ProwJob list: {exc}") from None
        try:
            self._coro.send(chunk)
        except ijson.JSONError as exc:
            raise FeedError(f"the feed is not JSON ({_first_line(exc)})") from None
        self._take_items()

    def _take_items(self) -> None:
        for item in self._items:
            self._count += 1
            build = item_to_build(item)
            if build is NO_BUILD_YET:
                self._waiting += 1
            elif isinstance(build, str):
                self._reasons[build] += 1
            elif isinstance(build, FeedBuild):
                seen = self._jobs.setdefault(build.job, {})
                if build.build_id in seen:
                    self._reasons["duplicate build"] += 1
                else:
                    seen[build.build_id] = build
        self._items.clear()


def parse_feed(data: bytes, cap: int = MAX_FEED_BYTES, chunk: int = 64 * 1024) -> Feed:
    """A whole body at once (tests, small feeds): FeedParser fed in chunks."""
    parser = FeedParser(cap)
    view = memoryview(data)
    for offset in range(0, len(data), chunk):
        parser.feed(bytes(view[offset : offset + chunk]))
    return parser.close()


def _first_line(exc: BaseException) -> str:
    """yajl's messages span lines and quote the text around the error: keep the first line."""
    message = exc.args[0] if exc.args else str(exc)
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    lines = str(message).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]
