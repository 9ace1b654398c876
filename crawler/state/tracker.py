"""Per-job tracker files: which builds Logilica has confirmed, safe against crashes and overlap;
and the job's lock (docs/formats.md#tracker-and-state-files; the failures file: failures.py).

Format (kept from the old script): `<tracker-dir>/<job>.txt`, one decimal build ID per line.
A line is appended only after Logilica confirmed the build, with one O_APPEND write per
confirmed batch, so a kill can at worst leave a torn last line, which `load` repairs; a write
that fails part-way (a full disk) is cut back to whole lines at once (files.append_whole_lines).
Room for a batch's lines is reserved before its POST, so a disk that is full already costs no
upload and a confirmation in flight still finds room when the disk fills meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiofiles
import aiofiles.os

from crawler.core.builds import validate_job_name
from crawler.core.errors import CrawlerError, DiskFault
from crawler.state.files import ShortAppend, append_whole_lines, reserve

# Bytes a tracker line may take (a 19-digit snowflake ID and its newline, with room to spare),
# and the least reserved at a time: one page, a syscall per ~200 confirmed builds.
LINE_BYTES = 24
RESERVE_BYTES = 4096


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
        self._fd: int | None = None  # the tracker, opened for appending on first need
        self._size = 0  # its length after our last write
        self._reserved_end = 0  # disk reserved up to this offset (0: nothing reserved)
        self._write: Callable[[int, bytes], int] = os.write  # tests inject short writes

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
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DiskFault.of(self._lock_path, exc) from None
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
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise DiskFault.of(self._lock_path, exc) from None
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
            try:
                os.truncate(self.path, good_len)
            except OSError as exc:
                raise DiskFault.of(self.path, exc) from None
        return TrackedIds(frozenset(ids), note, max(ids) if ids else None)

    async def prepare(self, lines: int) -> None:
        """Before a POST of `lines` builds: the tracker is open and the disk holds room for
        their lines, or DiskFault (nothing is sent then, so nothing is uploaded twice)."""
        need = lines * LINE_BYTES
        if self._fd is None or self._size + need > self._reserved_end:
            await asyncio.to_thread(self._prepare, need)

    def _prepare(self, need: int) -> None:
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._size = os.fstat(self._fd).st_size
            amount = max(need, RESERVE_BYTES)
            # Where the filesystem cannot reserve, the append itself finds out (and is cut
            # back to whole lines); nothing is reserved, so the next POST asks again.
            self._reserved_end = self._size + amount if reserve(self._fd, amount) else 0
        except OSError as exc:
            raise DiskFault(self.path, exc) from None

    async def append(self, build_ids: list[str]) -> None:
        """Record confirmed builds: one write, whole lines or none of a line. DiskFault (its
        `kept`: how many of the first IDs are on disk) when the filesystem refuses."""
        if not build_ids:
            return
        data = "".join(f"{b}\n" for b in build_ids).encode("ascii")
        try:
            if self._fd is None:
                self._prepare(0)
            assert self._fd is not None
            await asyncio.to_thread(append_whole_lines, self._fd, data, self._write)
        except OSError as exc:
            # Any failed append (not only ENOSPC/EROFS) means confirmations go unrecorded.
            fault = DiskFault(self.path, exc)
            if isinstance(exc, ShortAppend):
                fault.kept = exc.kept
            with contextlib.suppress(OSError):
                self._size = os.fstat(self._fd).st_size if self._fd is not None else 0
            raise fault from None
        self._size += len(data)

    async def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
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
