"""crawler.state.tracker: tracker files, torn-line repair, per-job locks and the failure log."""

from __future__ import annotations

import asyncio
import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.core.defaults import GIVE_UP_AFTER_RUNS
from crawler.core.errors import DiskFault
from crawler.state.failures import FailureLog
from crawler.state.files import ShortAppend, append_whole_lines
from crawler.state.tracker import (
    JobLocked,
    TrackedIds,
    Tracker,
    TrackerError,
    parse_tracker,
    read_tracker_summary,
    tracker_path,
)

JOB = "periodic-ci-org-repo-main-e2e"


# -- parse_tracker --------------------------------------------------------------------------------


def test_parse_tracker_reads_ids_of_any_width() -> None:
    text = "16\n1950119109857382400\n\n  42  \r\n9\n"
    ids, note, good_len = parse_tracker(text, "t.txt")
    assert ids == {16, 1950119109857382400, 42, 9}
    assert note is None
    assert good_len == len(text)


@pytest.mark.parametrize("text", ["", "\n", "\n\n\n"])
def test_parse_tracker_empty(text: str) -> None:
    assert parse_tracker(text, "t.txt") == (set(), None, len(text))


def test_parse_tracker_drops_a_torn_last_line() -> None:
    ids, note, good_len = parse_tracker("100\n200\n1950", "t.txt")
    assert ids == {100, 200}
    assert note is not None and "t.txt" in note and "'1950'" in note and "torn" in note
    assert good_len == len("100\n200\n")


def test_parse_tracker_torn_only_line() -> None:
    assert parse_tracker("12", "t.txt")[0::2] == (set(), 0)


@pytest.mark.parametrize(
    ("text", "line", "shown"),
    [
        ("1\nabc\n3\n", 2, "'abc'"),
        ("1\n2\n-3\n", 3, "'-3'"),
        ("1.5\n", 1, "'1.5'"),
        ("1\n\n\n0x10\n", 4, "'0x10'"),
        ("\u0661\u0662\n", 1, "'\u0661\u0662'"),  # Arabic-Indic digits are not ASCII
        ("1 2\n", 1, "'1 2'"),
        ("7\n\ufffd\n", 2, "'\ufffd'"),
    ],
)
def test_parse_tracker_garbage_names_file_and_line(text: str, line: int, shown: str) -> None:
    with pytest.raises(TrackerError) as info:
        parse_tracker(text, "dir/job.txt")
    message = str(info.value)
    assert message.startswith(f"dir/job.txt:{line}: ")
    assert shown in message


def test_parse_tracker_garbage_before_a_torn_line_is_still_an_error() -> None:
    with pytest.raises(TrackerError, match=r"t\.txt:1:"):
        parse_tracker("oops\n12", "t.txt")


@settings(max_examples=200, deadline=None)
@given(
    ids=st.lists(st.integers(min_value=0, max_value=2**64)),
    torn=st.from_regex(r"[0-9]{0,19}", fullmatch=True),
)
def test_parse_tracker_property(ids: list[int], torn: str) -> None:
    text = "".join(f"{i}\n" for i in ids) + torn
    parsed, note, good_len = parse_tracker(text, "t.txt")
    assert parsed == set(ids)
    assert (note is None) == (torn == "")
    assert text[:good_len] == "".join(f"{i}\n" for i in ids)


# -- tracker_path ---------------------------------------------------------------------------------


def test_tracker_path(tmp_path: Path) -> None:
    assert tracker_path(tmp_path, JOB) == tmp_path / f"{JOB}.txt"


@pytest.mark.parametrize("job", ["../escape", "a/b", "..", "", "/abs"])
def test_tracker_path_rejects_unsafe_names(tmp_path: Path, job: str) -> None:
    with pytest.raises(ValueError):
        tracker_path(tmp_path, job)


# -- Tracker: load / append -----------------------------------------------------------------------


@pytest.fixture
async def tracker(tmp_path: Path) -> Any:
    t = Tracker(tmp_path / "trackers", JOB)
    await t.lock()
    yield t
    await t.close()


async def test_load_missing_file(tracker: Tracker) -> None:
    assert await tracker.load() == TrackedIds(frozenset(), None, None)
    assert not tracker.path.exists()


async def test_load_reads_ids_and_newest(tracker: Tracker) -> None:
    tracker.path.write_text("9\n1950119109857382400\n100\n", encoding="ascii")
    state = await tracker.load()
    assert state.ids == frozenset({9, 1950119109857382400, 100})
    assert state.newest == 1950119109857382400
    assert state.repaired is None


async def test_torn_last_line_is_dropped_and_truncated(tracker: Tracker) -> None:
    tracker.path.write_bytes(b"100\n200\n19501191")
    state = await tracker.load()
    assert state.ids == frozenset({100, 200})
    assert state.newest == 200
    assert state.repaired is not None and "torn" in state.repaired
    # The file itself was repaired, so the next append starts on a fresh line.
    assert tracker.path.read_bytes() == b"100\n200\n"
    await tracker.append(["300"])
    assert tracker.path.read_bytes() == b"100\n200\n300\n"
    again = await tracker.load()
    assert again.ids == frozenset({100, 200, 300})
    assert again.repaired is None


async def test_garbage_line_in_the_middle(tracker: Tracker) -> None:
    tracker.path.write_bytes(b"100\nhello\n300\n")
    with pytest.raises(TrackerError) as info:
        await tracker.load()
    assert str(info.value).startswith(f"{tracker.path}:2: ")
    # Nothing is rewritten when the file is refused.
    assert tracker.path.read_bytes() == b"100\nhello\n300\n"


async def test_non_ascii_bytes_are_an_error_not_a_crash(tracker: Tracker) -> None:
    tracker.path.write_bytes(b"100\n\xff\xfe\n")
    with pytest.raises(TrackerError, match=r":2: "):
        await tracker.load()


async def test_unreadable_tracker(tracker: Tracker) -> None:
    tracker.path.mkdir()
    with pytest.raises(TrackerError, match="cannot read"):
        await tracker.load()


async def test_append_writes_whole_lines(tracker: Tracker) -> None:
    await tracker.append(["1950119109857382400", "16"])
    await tracker.append([])
    await tracker.append(["17"])
    assert tracker.path.read_bytes() == b"1950119109857382400\n16\n17\n"
    state = await tracker.load()
    assert state.ids == frozenset({1950119109857382400, 16, 17})


async def test_append_is_one_write_per_batch(tracker: Tracker) -> None:
    await tracker.append(["1"])
    writes: list[bytes] = []

    def counting_write(fd: int, data: bytes) -> int:
        writes.append(data)
        return os.write(fd, data)

    tracker._write = counting_write
    await tracker.append(["2", "3", "4"])
    assert writes == [b"2\n3\n4\n"]


def _short_then(error: int, allow: int) -> Any:
    """A write() that takes `allow` bytes, then fails with `error` (a disk filling up)."""
    left = [allow]

    def write(fd: int, data: bytes) -> int:
        if left[0] <= 0:
            raise OSError(error, os.strerror(error))
        n = os.write(fd, data[: left[0]])
        left[0] -= n
        return n

    return write


@pytest.mark.parametrize("allow", [0, 7, 20, 37, 40, 59])
async def test_short_write_is_cut_back_to_whole_lines(tracker: Tracker, allow: int) -> None:
    await tracker.append(["1950119109857382400"])
    ids = ["1950119109857382401", "1950119109857382402", "1950119109857382403"]
    tracker._write = _short_then(errno.ENOSPC, allow)
    with pytest.raises(DiskFault) as caught:
        await tracker.append(ids)
    kept = allow // 20
    assert caught.value.kept == kept
    assert str(tracker.path) in str(caught.value) and "ENOSPC" in str(caught.value)
    text = tracker.path.read_text()
    assert text.endswith("\n"), "the file ends in a fragment of an ID"
    assert text.split("\n")[:-1] == ["1950119109857382400", *ids[:kept]]


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS, errno.EIO, errno.EDQUOT])
async def test_failed_append_leaves_the_file_as_it_was(tracker: Tracker, error: int) -> None:
    await tracker.append(["16"])
    tracker._write = _short_then(error, 0)
    with pytest.raises(DiskFault) as caught:
        await tracker.append(["17", "18"])
    assert caught.value.kept == 0 and caught.value.errno == error
    assert tracker.path.read_bytes() == b"16\n"
    tracker._write = os.write  # the disk is back: appends go on after the whole lines
    await tracker.append(["19"])
    assert tracker.path.read_bytes() == b"16\n19\n"


def test_whole_line_append_cuts_the_fragment_of_a_real_short_write(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(b"1\n")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        with pytest.raises(ShortAppend) as caught:
            append_whole_lines(fd, b"22\n333\n4444\n", _short_then(errno.ENOSPC, 5))
    finally:
        os.close(fd)
    assert caught.value.kept == 1 and caught.value.truncated
    assert path.read_bytes() == b"1\n22\n"


async def test_prepare_reserves_room_without_changing_the_file(tracker: Tracker) -> None:
    await tracker.append(["5"])
    await tracker.prepare(10)
    assert tracker.path.read_bytes() == b"5\n"
    assert (await tracker.load()).ids == frozenset({5})


async def test_prepare_where_no_file_can_be_made_names_the_tracker(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    tracker = Tracker(tmp_path, JOB)
    tracker.path = blocker / f"{JOB}.txt"  # a directory that cannot hold files: ENOTDIR
    with pytest.raises(DiskFault) as caught:
        await tracker.prepare(1)
    assert str(tracker.path) in str(caught.value)


async def test_append_keeps_existing_content_and_is_visible_at_once(tracker: Tracker) -> None:
    tracker.path.write_bytes(b"5\n")
    await tracker.load()
    await tracker.append(["6"])
    # Unbuffered: visible to another reader before close().
    assert tracker.path.read_bytes() == b"5\n6\n"
    assert read_tracker_summary(tracker.path.parent, JOB) == (2, 6)


async def test_close_is_idempotent(tmp_path: Path) -> None:
    t = Tracker(tmp_path, JOB)
    await t.lock()
    await t.append(["1"])
    await t.close()
    await t.close()
    assert (tmp_path / f"{JOB}.txt").read_bytes() == b"1\n"


# -- Tracker: lock --------------------------------------------------------------------------------


async def test_second_lock_on_the_same_job_is_refused(tmp_path: Path) -> None:
    first = Tracker(tmp_path, JOB)
    await first.lock()
    try:
        # flock belongs to the open file description: a second open in this very process
        # conflicts just like another process would.
        second = Tracker(tmp_path, JOB)
        with pytest.raises(JobLocked) as info:
            await second.lock()
        assert f"{JOB}.txt" in str(info.value)
        assert f"pid {os.getpid()}" in str(info.value)
        # Another job is not affected.
        other = Tracker(tmp_path, JOB + "-other")
        await other.lock()
        await other.close()
    finally:
        await first.close()
    # Released on close: the job can be locked again.
    again = Tracker(tmp_path, JOB)
    await again.lock()
    await again.close()


async def test_lock_writes_the_holder_pid(tmp_path: Path) -> None:
    t = Tracker(tmp_path, JOB)
    await t.lock()
    try:
        assert (tmp_path / f"{JOB}.lock").read_text() == str(os.getpid())
    finally:
        await t.close()


async def test_lock_creates_the_directory(tmp_path: Path) -> None:
    t = Tracker(tmp_path / "a" / "b", JOB)
    await t.lock()
    await t.close()
    assert (tmp_path / "a" / "b" / f"{JOB}.lock").exists()


async def test_lock_wait_gives_up_after_the_wait(tmp_path: Path) -> None:
    holder = Tracker(tmp_path, JOB)
    await holder.lock()
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(JobLocked):
            await Tracker(tmp_path, JOB).lock(wait=0.2)
        assert loop.time() - start >= 0.15
    finally:
        await holder.close()


async def test_lock_wait_acquires_once_released(tmp_path: Path) -> None:
    holder = Tracker(tmp_path, JOB)
    await holder.lock()
    waiter = Tracker(tmp_path, JOB)
    task = asyncio.create_task(waiter.lock(wait=10))
    await asyncio.sleep(0)  # let the waiter make its first, failing attempt
    assert not task.done()
    await holder.close()
    await asyncio.wait_for(task, timeout=5)
    assert task.exception() is None
    with pytest.raises(JobLocked):
        await Tracker(tmp_path, JOB).lock()
    await waiter.close()


# -- read_tracker_summary -------------------------------------------------------------------------


def test_summary_of_a_missing_tracker(tmp_path: Path) -> None:
    assert read_tracker_summary(tmp_path, JOB) == (0, None)


def test_summary_counts_unique_ids_and_never_repairs(tmp_path: Path) -> None:
    path = tmp_path / f"{JOB}.txt"
    path.write_bytes(b"9\n1950119109857382400\n9\n77")
    assert read_tracker_summary(tmp_path, JOB) == (2, 1950119109857382400)
    assert path.read_bytes() == b"9\n1950119109857382400\n9\n77"


def test_summary_of_a_broken_tracker(tmp_path: Path) -> None:
    (tmp_path / f"{JOB}.txt").write_bytes(b"1\nx\n")
    with pytest.raises(TrackerError, match=r"\.txt:2: "):
        read_tracker_summary(tmp_path, JOB)


# -- FailureLog -----------------------------------------------------------------------------------


def test_failure_log_round_trip(tmp_path: Path) -> None:
    log = FailureLog(tmp_path, JOB).load()
    assert log.entries == {}
    assert log.given_up() == set()
    for _ in range(GIVE_UP_AFTER_RUNS):
        entry = log.add("1950119109857382400", "bad metadata")
    log.add("16", "unknown repo")
    assert entry.attempts == GIVE_UP_AFTER_RUNS
    assert log.given_up() == {1950119109857382400}
    log.save()
    data = json.loads((tmp_path / f"{JOB}.failures.json").read_text())
    # Sorted as integers, not as strings.
    assert list(data) == ["16", "1950119109857382400"]
    assert data["16"]["reason"] == "unknown repo"
    again = FailureLog(tmp_path, JOB).load()
    assert again.entries["1950119109857382400"].attempts == GIVE_UP_AFTER_RUNS
    assert again.given_up() == {1950119109857382400}


def test_failure_log_clear_and_remove_file(tmp_path: Path) -> None:
    log = FailureLog(tmp_path, JOB)
    log.add("5", "x")
    log.save()
    path = tmp_path / f"{JOB}.failures.json"
    assert path.exists()
    log.clear("5")
    log.clear("6")  # unknown IDs are ignored
    log.save()
    assert not path.exists()


def test_failure_log_save_without_changes_writes_nothing(tmp_path: Path) -> None:
    FailureLog(tmp_path, JOB).load().save()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ("not json", "unreadable"),
        ("[1, 2]", "not a JSON object"),
        ('{"5": {"reason": "x"}}', "malformed"),
        ('{"5": {"reason": "x", "attempts": "many", "first": 1, "last": 2}}', "malformed"),
        ('{"5": 3}', "malformed"),
        ('{"five": {"reason": "x", "attempts": 3, "first": 1, "last": 2}}', "not a build ID"),
    ],
)
def test_failure_log_broken_file(tmp_path: Path, body: str, phrase: str) -> None:
    (tmp_path / f"{JOB}.failures.json").write_text(body)
    with pytest.raises(TrackerError, match=phrase):
        FailureLog(tmp_path, JOB).load()
