"""Atomic replacement of the small state files (checkpoint, failures, last success)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.state.files import replace_atomically


def test_replaces_the_whole_text(tmp_path: Path) -> None:
    path = tmp_path / "job.state.json"
    path.write_text("old, and longer than the new text\n")
    replace_atomically(path, "new\n")
    assert path.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["job.state.json"]


def test_a_failed_write_keeps_the_old_text_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / ".last-success.all"
    path.write_text("1700000000.000\n", encoding="ascii")
    with pytest.raises(UnicodeEncodeError):
        replace_atomically(path, "not ascii: \u00e9\n", encoding="ascii")
    assert path.read_text(encoding="ascii") == "1700000000.000\n"
    assert [p.name for p in tmp_path.iterdir()] == [".last-success.all"]


def test_a_missing_directory_is_an_os_error_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        replace_atomically(tmp_path / "gone" / "job.failures.json", "{}\n")
    assert list(tmp_path.iterdir()) == []
