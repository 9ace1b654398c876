"""Per-job tracker files: which builds Logilica has confirmed, safe against crashes and overlap;
the job's lock; and its failures file (docs/formats.md#tracker-and-state-files).

Format (kept from the old script): `<tracker-dir>/<job>.txt`, one decimal build ID per line.
A line is appended only after Logilica confirmed the build, with one unbuffered O_APPEND
write per confirmed batch, so a kill can at worst leave a torn last line, which `load` repairs.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiofiles
import aiofiles.os

from crawler.errors import CrawlerError
from crawler.files import replace_atomically
from crawler.prow import validate_job_name
from crawler.retry import GIVE_UP_AFTER_RUNS


class TrackerError(CrawlerError):
    """The tracker file cannot be used (unreadable, or a line that is not a build ID)."""


class JobLocked(CrawlerError):
    """Another process holds this job's lock (an overlapping cron run)."""


@dataclass(frozen=True)
class TrackedIds:
    """What a tracker file holds: the confirmed build IDs."""

    ids: frozenset[int]
    repaired: str | None  # what load() fixed, to tell the user; None if nothing
    newest: int | None


def tracker_path(directory: Path, job: str) -> Path:
    """Inside `directory` only: the job name was validated not to contain separators or `..`."""
    return directory / f"{validate_job_name(job)}.txt"


def parse_tracker(text: str, path: str) -> tuple[set[int], str | None, int]:
    """IDs in a tracker's text, plus a note and the byte length of its valid part.

    A last line without its newline is a write torn by a crash: it is dropped (the build was
    confirmed, so at worst it is uploaded once more), never read as a shorter, wrong ID.
    """
    ids: set[int] = set()
    good_len = len(text)
    note = None
    lines = text.split("\n")
    if lines and lines[-1] != "":
        torn = lines.pop()
        good_len = len(text) - len(torn)
        note = f"{path}: dropped a torn last line {torn[:30]!r} left by an interrupted run"
    for number, line in enumerate(lines, start=1):
        entry = line.strip()
        if not entry:
            continue
        if not entry.isascii() or not entry.isdigit():
            raise TrackerError(
                f"{path}:{number}: {entry[:40]!r} is not a build ID; "
                "fix or delete that line (one decimal build ID per line)"
            )
        ids.add(int(entry))
    return ids, note, good_len


class Tracker:
    """One job's tracker file, opened for appending for the length of a run."""

    def __init__(self, directory: Path, job: str) -> None:
        self.path = tracker_path(directory, job)
        self._lock_path = self.path.with_suffix(".lock")
        self._lock_fd: int | None = None
        self._file: aiofiles.threadpool.binary.AsyncFileIO | None = None

    async def lock(self, wait: float = 0.0) -> None:
        """Take the job's OS file lock (the kernel drops it if the process dies).

        With `wait`, poll for up to that many seconds; JobLocked if it is still held.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait
        while True:
            try:
                self._try_lock()
                return
            except JobLocked:
                if time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    def _try_lock(self) -> None:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise JobLocked(
                    f"{self.path.name}: another prow-crawler run"
                    f"{f' (pid {holder})' if holder else ''} is working on this job"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    async def load(self, *, repair: bool = True) -> TrackedIds:
        """Read the IDs, repairing a torn last line in place (only under the lock)."""
        try:
            async with aiofiles.open(self.path, "rb") as f:
                raw = await f.read()
        except FileNotFoundError:
            return TrackedIds(frozenset(), None, None)
        except OSError as exc:
            raise TrackerError(f"{self.path}: cannot read: {exc.strerror}") from None
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            text = raw.decode("ascii", "replace")
        ids, note, good_len = parse_tracker(text, str(self.path))
        if note is not None and repair:
            os.truncate(self.path, good_len)
        return TrackedIds(frozenset(ids), note, max(ids) if ids else None)

    async def append(self, build_ids: list[str]) -> None:
        """Record confirmed builds: one write() call, so a kill cannot interleave two batches."""
        if not build_ids:
            return
        if self._file is None:
            self._file = await aiofiles.open(self.path, "ab", buffering=0)
        await self._file.write("".join(f"{b}\n" for b in build_ids).encode("ascii"))

    async def close(self) -> None:
        if self._file is not None:
            await self._file.close()
            self._file = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def read_tracker_summary(directory: Path, job: str) -> tuple[int, int | None]:
    """(count, newest ID) without repairing anything: `status` must not write."""
    path = tracker_path(directory, job)
    try:
        text = path.read_bytes().decode("ascii", "replace")
    except FileNotFoundError:
        return 0, None
    ids, _, _ = parse_tracker(text, str(path))
    return len(ids), max(ids) if ids else None


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
        """Builds no longer retried (see crawler.retry): they stay in the file and `status`."""
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
