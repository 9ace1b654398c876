"""A job's failures file: builds that failed for good, with reason and attempt count
(docs/formats.md#tracker-and-state-files)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from crawler.core.builds import validate_job_name
from crawler.core.defaults import GIVE_UP_AFTER_RUNS
from crawler.state.files import replace_atomically
from crawler.state.tracker import TrackerError


@dataclass
class Failure:
    reason: str
    attempts: int
    first: int
    last: int


class FailureLog:
    """`<job>.failures.json`: builds that failed permanently, with reason and attempt count.

    Rewritten atomically (temp file + rename) at the end of a run; losing an update to a kill
    only means one more attempt next time.
    """

    def __init__(self, directory: Path, job: str) -> None:
        self.path = directory / f"{validate_job_name(job)}.failures.json"
        self.entries: dict[str, Failure] = {}
        self._dirty = False

    def load(self) -> FailureLog:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return self
        except (OSError, ValueError) as exc:
            raise TrackerError(
                f"{self.path}: unreadable ({exc}); delete it to retry every failed build"
            ) from None
        if not isinstance(data, dict):
            raise TrackerError(f"{self.path}: not a JSON object; delete it to start afresh")
        for build_id, entry in data.items():
            if not (build_id.isascii() and build_id.isdigit()):
                raise TrackerError(
                    f"{self.path}: key {build_id[:30]!r} is not a build ID; delete the file "
                    "to retry every failed build"
                )
            try:
                self.entries[str(build_id)] = Failure(
                    reason=str(entry["reason"]),
                    attempts=int(entry["attempts"]),
                    first=int(entry["first"]),
                    last=int(entry["last"]),
                )
            except (KeyError, TypeError, ValueError):
                raise TrackerError(
                    f"{self.path}: entry {str(build_id)[:30]!r} is malformed; delete the file "
                    "to retry every failed build"
                ) from None
        return self

    def given_up(self) -> set[int]:
        """Builds no longer retried (see crawler.net.retry): they stay in the file and `status`."""
        return {int(k) for k, e in self.entries.items() if e.attempts >= GIVE_UP_AFTER_RUNS}

    def add(self, build_id: str, reason: str) -> Failure:
        """Count one more permanent failure of the build."""
        now = int(time.time())
        entry = self.entries.get(build_id)
        if entry is None:
            entry = self.entries[build_id] = Failure(reason, 0, now, now)
        entry.attempts += 1
        entry.reason, entry.last = reason, now
        self._dirty = True
        return entry

    def clear(self, build_id: str) -> None:
        if self.entries.pop(build_id, None) is not None:
            self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return
        if not self.entries:
            self.path.unlink(missing_ok=True)
        else:
            body = {
                k: asdict(v) for k, v in sorted(self.entries.items(), key=lambda kv: int(kv[0]))
            }
            replace_atomically(self.path, json.dumps(body, indent=1) + "\n")
        self._dirty = False
