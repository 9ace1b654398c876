"""A nesting-depth limit for JSON read as a stream, checked before ijson sees the bytes.

ijson names every event by its path, so each event costs time in proportion to its depth: a
body of 200,000 nested `[` (400 KB) takes ijson minutes. `DepthGuard` finds the depth with
regular expressions and byte translation (C loops), so it adds little to an honest document.
"""

from __future__ import annotations

import re
from itertools import accumulate

# A complete JSON string, and the rest of one that began in an earlier chunk.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_STRING_END = re.compile(rb'(?:[^"\\]++|\\.)*+"', re.DOTALL)
_DROP = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = tuple(1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256))


class DepthGuard:
    """Feed it the document's bytes in order; `feed` raises ValueError once the nesting of
    arrays and objects (outside strings) goes deeper than `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.depth = 0
        self._in_string = False
        self._escape = False  # the chunk ended inside a string, right after a backslash

    def feed(self, chunk: bytes) -> None:
        start = 0
        if self._in_string:
            if self._escape:
                if not chunk:
                    return
                start, self._escape = 1, False
            end = _STRING_END.match(chunk, start)
            if end is None:
                self._escape = _ends_in_escape(chunk, start)
                return
            self._in_string, start = False, end.end()
        outside = _STRING.sub(b"", chunk[start:] if start else chunk)
        quote = outside.find(b'"')
        if quote >= 0:  # a string that goes on in the next chunk
            self._in_string = True
            self._escape = _ends_in_escape(outside, quote + 1)
            outside = outside[:quote]
        brackets = outside.translate(None, _DROP)
        if self.depth + len(brackets) > self.limit:
            deepest = max(accumulate(map(_STEP.__getitem__, brackets), initial=self.depth))
            if deepest > self.limit:
                raise ValueError(f"nested deeper than {self.limit} levels")
        self.depth += 2 * brackets.count(b"[") + 2 * brackets.count(b"{") - len(brackets)


def _ends_in_escape(data: bytes, start: int) -> bool:
    """Whether string text data[start:] ends with an unpaired backslash."""
    tail = data[start:]
    return (len(tail) - len(tail.rstrip(b"\\"))) % 2 == 1
