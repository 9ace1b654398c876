"""crawler.state.matchstore: matches.json under the tracker directory, read strictly (a bad file is
named with what to do), written atomically and merged with what another shard wrote."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

import crawler.state.matchstore as matchstore
from crawler.core.errors import DiskFault
from crawler.core.matching import MatchItem, MatchRule
from crawler.settings.patterns import expand
from crawler.state.matchstore import (
    MATCHES_FILE,
    MatchStoreError,
    load_matches,
    matches_path,
    parse_matches,
    save_matches,
)
from crawler.state.tracker import TrackerError

BASE = "https://prow.example.test/job-history/gs/test-platform-results"
A, B = "periodic-a", "pull-b"
A_URL, B_URL = f"{BASE}/logs/{A}", f"{BASE}/pr-logs/directory/{B}"


def test_no_file_means_nothing_remembered(tmp_path: Path) -> None:
    assert load_matches(tmp_path) == {}
    assert load_matches(tmp_path / "not-yet") == {}


def test_save_then_load(tmp_path: Path) -> None:
    directory = tmp_path / "tracker"
    matches = {"job=periodic-*": {A: A_URL}, "type=presubmit": {B: B_URL}}
    assert save_matches(directory, matches) is True
    assert matches_path(directory) == directory / MATCHES_FILE
    assert load_matches(directory) == matches
    assert [p.name for p in directory.iterdir() if p.name.endswith(".tmp")] == []


def test_saving_what_the_file_holds_writes_nothing(tmp_path: Path) -> None:
    save_matches(tmp_path, {"k": {A: A_URL}})
    before = matches_path(tmp_path).stat().st_mtime_ns
    assert save_matches(tmp_path, {"k": {A: A_URL}}) is False
    assert save_matches(tmp_path, {}) is False
    assert matches_path(tmp_path).stat().st_mtime_ns == before


def test_a_save_adds_to_what_another_run_wrote(tmp_path: Path) -> None:
    """Shards share the file: one's jobs survive the other's write, and URLs are updated."""
    save_matches(tmp_path, {"k": {A: A_URL}, "other": {B: B_URL}})
    moved = A_URL.replace("test-platform-results", "moved")
    assert save_matches(tmp_path, {"k": {B: B_URL, A: moved}}) is True
    assert load_matches(tmp_path) == {"k": {A: moved, B: B_URL}, "other": {B: B_URL}}


def test_an_expansion_round_trips(tmp_path: Path) -> None:
    rule = MatchRule(job="periodic-*", text='"periodic-*"')
    first = expand([MatchItem(rule, None)], [], None, {rule.key: {A: A_URL}}, prow="https://x")
    save_matches(tmp_path, first.remembered)
    again = expand([MatchItem(rule, None)], [], None, load_matches(tmp_path), prow="https://x")
    assert [(j.name, j.url.url) for j in again.jobs] == [(A, A_URL)]


def test_an_empty_file_is_nothing_remembered(tmp_path: Path) -> None:
    matches_path(tmp_path).write_text("  \n")
    assert load_matches(tmp_path) == {}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", ["not JSON"]),
        ("[1, 2]", ["not a JSON object"]),
        ('{"k": [1]}', ["rule 'k' is not an object"]),
        (json.dumps({"k": {"a/../b": A_URL}}), ["job 'a/../b'", "not usable as a tracker"]),
        (json.dumps({"k": {A: 3}}), ["the URL is not a string"]),
        (json.dumps({"k": {A: "https://x/not-history"}}), ["not a job-history URL"]),
        (json.dumps({"k": {A: B_URL}}), ["is not that job's history URL"]),
        (json.dumps({"k": {A: A_URL + "?buildId=5"}}), ["is not that job's history URL"]),
    ],
)
def test_a_bad_file_is_named_with_what_to_do(tmp_path: Path, text: str, words: list[str]) -> None:
    path = matches_path(tmp_path)
    path.write_text(text)
    with pytest.raises(MatchStoreError) as err:
        load_matches(tmp_path)
    message = str(err.value)
    assert message.startswith(f"{path}: "), message
    assert "fix it or delete it" in message
    for word in words:
        assert word in message, message
    assert isinstance(err.value, TrackerError)


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    matches_path(tmp_path).write_bytes(b'{"k": "\xff"}')
    with pytest.raises(MatchStoreError, match="not UTF-8 text; fix it or delete it"):
        load_matches(tmp_path)


def test_parse_matches_names_the_given_path() -> None:
    with pytest.raises(MatchStoreError, match=r"^elsewhere/matches\.json: not JSON"):
        parse_matches("{", "elsewhere/matches.json")


def test_a_corrupt_file_is_not_overwritten(tmp_path: Path) -> None:
    matches_path(tmp_path).write_text("{")
    with pytest.raises(MatchStoreError):
        save_matches(tmp_path, {"k": {A: A_URL}})
    assert matches_path(tmp_path).read_text() == "{"


@pytest.mark.parametrize(
    ("code", "kind"), [(errno.ENOSPC, DiskFault), (errno.EROFS, DiskFault), (errno.EACCES, None)]
)
def test_a_failed_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, kind: type | None
) -> None:
    save_matches(tmp_path, {"k": {A: A_URL}})

    def refuse(path: Path, text: str, encoding: str = "utf-8") -> None:
        raise OSError(code, "refused")

    monkeypatch.setattr(matchstore, "replace_atomically", refuse)
    with pytest.raises((DiskFault, MatchStoreError)) as err:
        save_matches(tmp_path, {"k": {B: B_URL}})
    assert isinstance(err.value, kind or MatchStoreError)
    assert str(matches_path(tmp_path)) in str(err.value)
    assert load_matches(tmp_path) == {"k": {A: A_URL}}
