"""Writing state files so that a reader (or a later run after a kill, a full disk or a
filesystem gone read-only) sees whole records: the old text or the new one, whole lines."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
from collections.abc import Callable
from pathlib import Path

# fallocate(2)'s FALLOC_FL_KEEP_SIZE: reserve blocks past the end without changing the size.
_KEEP_SIZE = 1


def replace_atomically(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`.

    The rename is atomic within a directory; a failed write leaves `path` as it was and no
    temporary file behind. Callers hold the job's lock, so one temporary name is enough.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding=encoding)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class ShortAppend(OSError):
    """An append stopped part-way; `kept` whole lines of it are on disk, the rest is not."""

    def __init__(self, cause: OSError, kept: int, truncated: bool) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.kept = kept
        self.truncated = truncated  # False: the fragment could not be cut (load() repairs it)


def append_whole_lines(fd: int, data: bytes, write: Callable[[int, bytes], int] = os.write) -> None:
    """Append newline-terminated `data` to `fd` (opened O_APPEND, ours alone under the job's
    lock) so that the file ends at a line boundary whatever happens.

    A short write (a disk that fills mid-write) is followed by another write for the rest,
    which then fails; on any failure the file is cut back to the last complete line, because
    a fragment of an ID (16 of 19 digits) is another, wrong, build ID. Raises ShortAppend.
    """
    start = os.fstat(fd).st_size
    done = 0
    try:
        while done < len(data):
            n = write(fd, data[done:])
            if n <= 0:
                raise OSError(errno.ENOSPC, "short write")
            done += n
    except OSError as exc:
        keep = data.rfind(b"\n", 0, done) + 1
        truncated = True
        if keep != done:
            try:
                os.ftruncate(fd, start + keep)
            except OSError:
                truncated = False
        raise ShortAppend(exc, data.count(b"\n", 0, keep), truncated) from exc


def _load_fallocate() -> Callable[..., int] | None:
    name = ctypes.util.find_library("c")
    try:
        func = ctypes.CDLL(name, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None  # not Linux: reserve() reports "cannot tell"
    func.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    func.restype = ctypes.c_int
    return func


_fallocate = _load_fallocate()


def reserve(fd: int, nbytes: int) -> bool:
    """Reserve `nbytes` of disk past the end of `fd` (the size stays as it is), so that the
    appends they hold cannot fail for want of space. False where the system or filesystem
    cannot reserve; OSError (ENOSPC, EDQUOT, EROFS...) when the space is not there."""
    if _fallocate is None:
        return False
    size = os.fstat(fd).st_size
    if _fallocate(fd, _KEEP_SIZE, size, nbytes) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
        return False
    raise OSError(err, os.strerror(err))
