"""ci-operator's step graph -> Logilica stages and jobs. Pure: no I/O.

ci-operator writes ``artifacts/ci-operator-step-graph.json`` (openshift/ci-tools
``pkg/api/graph.go``, ``CIOperatorStepGraph``; docs/formats.md#ci-operator-step-graph): its
steps, in dependency order, become the stages of a build and the substeps of a multi-stage
test become that stage's jobs. `StepGraphReader` reads the file as it streams in, keeping only
the fields the mapping needs (a step's `manifests` can be huge); `step_stages` never raises.
"""

from __future__ import annotations

import functools
import json
import operator
import re
import zlib
from datetime import date
from typing import Any, NamedTuple

STEP_GRAPH = "artifacts/ci-operator-step-graph.json"
# The most graph text read (after gunzip): far beyond real graphs, which are kilobytes once
# manifests are left out, and short enough to bound the time a hostile one takes.
MAX_GRAPH_BYTES = 64 * 1024 * 1024
# What the mapping reads of a step and of a substep; everything else is skipped unparsed.
_KEEP = {
    "item": frozenset({"name", "started_at", "finished_at", "failed", "substeps"}),
    "item.substeps.item": frozenset({"name", "started_at", "finished_at", "failed"}),
}
_GZIP_MAGIC = b"\x1f\x8b"
# Graphs up to this size (most: tens of KiB) are parsed whole by the json module, which costs
# a tenth of the CPU of parsing event by event; bigger ones are streamed.
SMALL_GRAPH_BYTES = 256 * 1024


class StepGraphReader:
    """Builds the steps of a graph from the chunks of its body (gzipped or not) without ever
    holding more than the kept fields: memory stays flat however big the manifests are (the
    streaming parser holds one JSON value at a time, and a manifest is many small ones).
    A graph of at most `small` bytes is read whole and parsed at once, which is much cheaper.
    `feed` and `result` raise ValueError for a body that is not a readable graph."""

    def __init__(self, cap: int = MAX_GRAPH_BYTES, small: int = SMALL_GRAPH_BYTES) -> None:
        self._cap = cap
        self._small = small
        self._size = 0
        self._inflate: Any = None
        self._head: bytes | None = b""  # the first bytes, until there are enough to spot gzip
        self._whole: bytearray | None = bytearray()  # the text so far, while it is small
        # The streaming parser's parts, made only for a graph too big to parse whole.
        self._events: Any = None
        self._parser: Any = None
        self._builder: Any = None
        self._skipping: str | None = None  # prefix of a value being left out

    def feed(self, chunk: bytes) -> None:
        if self._head is not None:
            self._head += chunk
            if len(self._head) < len(_GZIP_MAGIC):
                return
            chunk, self._head = self._head, None
            if chunk.startswith(_GZIP_MAGIC):  # stored gzipped, served as stored
                self._inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        if self._inflate is not None:
            try:
                chunk = self._inflate.decompress(chunk, self._cap - self._size + 1)
            except zlib.error as exc:
                raise ValueError(f"corrupt gzip data ({exc})") from None
            if self._inflate.unconsumed_tail:
                raise ValueError(f"the step graph is larger than {self._cap} bytes")
        self._take(chunk)

    def result(self) -> Any:
        """The graph with only the kept fields (a list when it is a step graph)."""
        if self._head is not None:  # at most one byte came
            if not self._head:
                return None
            chunk, self._head = self._head, None
            self._take(chunk)
        if self._inflate is not None:
            self._take(self._inflate.flush())
        if self._whole is not None:
            return _kept(_parse_whole(bytes(self._whole)))
        self._send(None)
        return self._builder.value

    def _take(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._cap:
            raise ValueError(f"the step graph is larger than {self._cap} bytes")
        if self._whole is not None:
            self._whole += chunk
            if len(self._whole) <= self._small:
                return
            chunk, self._whole = bytes(self._whole), None  # too big: stream from here on
        self._send(chunk)

    def _send(self, chunk: bytes | None) -> None:
        import ijson  # only for a graph too big to parse whole: a cron run seldom needs it

        if self._parser is None:
            self._events = ijson.sendable_list()
            self._builder = ijson.ObjectBuilder()
            self._parser = ijson.parse_coro(self._events, use_float=True)
        try:
            if chunk is None:
                self._parser.close()
            elif chunk:  # ijson reads an empty chunk as the end of the document
                self._parser.send(chunk)
        except ijson.JSONError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
        for prefix, event, value in self._events:
            if self._skipping is not None:
                if prefix == self._skipping or prefix.startswith(self._skipping + "."):
                    continue
                self._skipping = None
            if prefix == "" and event == "start_map":
                raise ValueError("not a step graph: an object, not a list of steps")
            if event == "map_key" and prefix in _KEEP and value not in _KEEP[prefix]:
                self._skipping = f"{prefix}.{value}"
                continue
            self._builder.event(event, value)
        self._events.clear()


def _parse_whole(text: bytes) -> Any:
    try:
        graph = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, deep nesting
        raise ValueError(f"not valid JSON ({exc})") from None
    if isinstance(graph, dict):
        raise ValueError("not a step graph: an object, not a list of steps")
    return graph


def _only(value: Any, keys: frozenset[str]) -> Any:
    return {k: v for k, v in value.items() if k in keys} if isinstance(value, dict) else value


def _kept(graph: Any) -> Any:
    """What the streaming reader would have kept of a graph parsed whole."""
    if not isinstance(graph, list):
        return graph
    out = []
    for step in graph:
        step = _only(step, _KEEP["item"])
        if isinstance(step, dict) and isinstance(step.get("substeps"), list):
            step["substeps"] = [_only(sub, _KEEP["item.substeps.item"]) for sub in step["substeps"]]
        out.append(step)
    return out


# Plausible step times: 2000-01-01 .. 2100-01-01 UTC; anything else is corrupt data.
_MIN_TS = 946_684_800
_MAX_TS = 4_102_444_800
_UNIX_DAY_ONE = date(1970, 1, 1).toordinal()
# RFC 3339 as Go marshals time.Time: 0-9 fractional digits, then Z or a +hh:mm offset.
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.[0-9]{1,9})?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)


def epoch_seconds(value: Any) -> int | None:
    """Floor of an RFC 3339 time in epoch seconds; None when absent, malformed or implausible.

    Computed from the fields (no datetime parsing of the text: it runs for every step of
    every build): the fraction never changes the floor, as offsets are whole minutes.
    """
    if not isinstance(value, str):
        return None  # null, absent, numbers (NaN, Infinity included) and other JSON
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, sign, off_h, off_m = match.groups()
    days = _unix_day(year, month, day)
    # Hour 24, minute 60 and the like; a leap second (:60) is refused as datetime does.
    h, m, sec = int(hour), int(minute), int(second)
    if days is None or h > 23 or m > 59 or sec > 59:
        return None
    seconds = days * 86400 + h * 3600 + m * 60 + sec
    if sign is not None:
        if int(off_h) > 23 or int(off_m) > 59:
            return None  # not an offset a clock can have
        offset = int(off_h) * 3600 + int(off_m) * 60
        seconds += -offset if sign == "+" else offset
    return seconds if _MIN_TS <= seconds <= _MAX_TS else None


@functools.lru_cache(maxsize=1024)
def _unix_day(year: str, month: str, day: str) -> int | None:
    """Days since 1970-01-01 of a calendar date, None for one that does not exist (month 13,
    February 30). Cached: the steps of a build, and builds of one day, share their dates."""
    try:
        return date(int(year), int(month), int(day)).toordinal() - _UNIX_DAY_ONE
    except ValueError:
        return None


class _Step(NamedTuple):
    """A step (or substep) that ran: both times known, the end clamped to the start. A tuple
    (not a frozen dataclass, whose __init__ costs four object.__setattr__ calls): a build's
    steps are made for every build."""

    started: int
    name: str
    completed: int
    failed: bool


# Steps are ordered by start, then name; sorted() keeps the graph's order for full ties.
_ORDER = operator.itemgetter(0, 1)


def _name(step: Any) -> str | None:
    name = step.get("name") if isinstance(step, dict) else None
    return name if isinstance(name, str) and name else None


def _failed(step: Any) -> bool:
    return _name(step) is not None and step.get("failed") is True


def _ran(step: Any, failed: bool = False) -> _Step | None:
    """The step when it is well formed and ran; `failed` adds failure from its substeps."""
    name = _name(step)
    if name is None:
        return None
    started = epoch_seconds(step.get("started_at"))
    if started is None:
        return None
    completed = epoch_seconds(step.get("finished_at"))
    if completed is None:
        return None
    return _Step(started, name, max(started, completed), failed or step.get("failed") is True)


def _substeps(step: dict[str, Any]) -> list[Any]:
    substeps = step.get("substeps")
    return substeps if isinstance(substeps, list) else []


def _job(step: _Step) -> dict[str, Any]:
    return {
        "name": step.name,
        "startedAt": step.started,
        "completedAt": step.completed,
        "status": "Completed",
        "conclusion": "Failure" if step.failed else "Success",
    }


def step_stages(graph: Any, *, build_id: str, url: str) -> list[dict[str, Any]] | None:
    """Logilica stages for a decoded step graph, one per top-level step that ran.

    None when the graph yields no stage, so that the caller keeps its single build stage.
    Duplicate step names keep only the first step that ran: stage IDs must be unique.
    """
    if not isinstance(graph, list):
        return None
    stages: list[tuple[_Step, list[_Step]]] = []
    seen: set[str] = set()
    for entry in graph:
        if not isinstance(entry, dict):
            continue
        substeps = _substeps(entry)
        step = _ran(entry, failed=any(_failed(sub) for sub in substeps))
        if step is None or step.name in seen:
            continue
        seen.add(step.name)
        jobs = [job for job in map(_ran, substeps) if job is not None]
        stages.append((step, sorted(jobs, key=_ORDER) or [step]))
    if not stages:
        return None
    stages.sort(key=lambda pair: _ORDER(pair[0]))
    return [
        {
            "name": step.name,
            "id": f"{build_id}:{step.name}",
            "url": url,
            "startedAt": step.started,
            "completedAt": step.completed,
            "status": "Completed",
            "conclusion": "Failure" if step.failed else "Success",
            "jobs": [_job(job) for job in jobs],
        }
        for step, jobs in stages
    ]


__all__ = ["STEP_GRAPH", "epoch_seconds", "step_stages"]
