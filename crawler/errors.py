"""Exception types shared across modules, so the CLI can map them to exit codes."""

from __future__ import annotations


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

    `permanent`: retrying it (in this run or a later one) will not help; crawler.retry
    decides it from the status (retry.give_up), or the raiser says so (a body over its cap).
    """

    def __init__(self, message: str, *, status: int | None = None, permanent: bool = False) -> None:
        self.status = status
        self.permanent = permanent
        super().__init__(message)
