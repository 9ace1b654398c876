"""Writing a small state file so that a reader (or a later run after a kill) sees the old
text or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


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
