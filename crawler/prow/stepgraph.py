"""Reading ci-operator's step graph from a build's folder: streamed, capped, only the fields the
stage mapping uses (docs/formats.md)."""

from __future__ import annotations

import json
import zlib
from typing import Any

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
