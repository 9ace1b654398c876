"""Exception types shared across modules, so the CLI can map them to exit codes."""

from __future__ import annotations

import errno


class CrawlerError(Exception):
    """Base class for errors the crawler reports to the user without a traceback."""


class ConfigError(CrawlerError):
    """Bad input found before any network request (exit status 2).

    The message names the file and, when there is one, the line, then says what is wrong.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.detail = message
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")


class BuildError(CrawlerError):
    """A single build cannot be turned into a Logilica record or cannot be uploaded.

    `permanent` marks failures that retrying in this run cannot fix (bad metadata, unknown
    repository, a 4xx answer).
    """

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        self.permanent = permanent
        super().__init__(message)


class RemoteError(CrawlerError):
    """A request to a remote service failed for good or after its retries.

    `permanent`: retrying it (in this run or a later one) will not help; crawler.net.retry
    decides it from the status (retry.give_up), or the raiser says so (a body over its cap).
    """

    def __init__(self, message: str, *, status: int | None = None, permanent: bool = False) -> None:
        self.status = status
        self.permanent = permanent
        super().__init__(message)


# Write errors that say the filesystem itself cannot take more (not one file's problem): once
# one is seen, no later confirmation could be recorded there either.
FILESYSTEM_FAULTS = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EROFS", "EIO", "EDQUOT", "EFBIG")
    if hasattr(errno, name)
)


class DiskFault(CrawlerError):
    """A state file (tracker, failures, checkpoint, lock) could not be written because its
    filesystem is full, read-only or failing: the run stops uploading (see Pipeline)."""

    def __init__(self, path: object, exc: OSError) -> None:
        self.path = str(path)
        self.errno = exc.errno
        code = errno.errorcode.get(exc.errno or 0, "error")
        self.reason = f"{exc.strerror or exc} ({code})"
        self.kept = 0  # of a failed tracker append: the IDs that did reach the disk
        super().__init__(f"cannot write {self.path}: {self.reason}")

    @staticmethod
    def of(path: object, exc: OSError) -> OSError | DiskFault:
        """`exc` as a DiskFault when it is a filesystem fault, else unchanged."""
        return DiskFault(path, exc) if exc.errno in FILESYSTEM_FAULTS else exc

    def advice(self) -> str:
        if self.errno == errno.EROFS:
            return "fix the mount (the filesystem is read-only) and run again"
        if self.errno == errno.EIO:
            return "check the disk and its mount (I/O error) and run again"
        return "free space on that filesystem (or raise its quota) and run again"

    def last_line(self, unrecorded: int) -> str:
        """The run's last line: the file, the error, what to do, and what the fault cost."""
        cost = (
            f"{unrecorded} build{'s' if unrecorded != 1 else ''} Logilica confirmed could not "
            "be recorded and will be uploaded again by the next run"
            if unrecorded
            else "every build Logilica confirmed is recorded"
        )
        return f"disk fault: {self}; {self.advice()}; {cost}"
