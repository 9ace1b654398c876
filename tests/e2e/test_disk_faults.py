"""Disk faults end to end, on real filesystems: the tracker directory on a size-limited tmpfs
that fills, and on a loop-mounted ext4 image forced read-only, while the real CLI runs.

What must hold: the run stops uploading at once (duplicates only for the POSTs in flight: at
most one batch per job with one uploader), no tracker ever ends in a fragment, the summary's
uploaded count equals the tracker lines written, one line names the file, and the rerun after
the disk is fixed completes. The mounts need root; where `mount` is refused the tests skip.
Run with -s to see the measured figures.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.sandbox import Faults, Sandbox, generated_world
from tests.e2e.conftest import (
    TOKEN,
    Cli,
    CliResult,
    assert_complete,
    crawler_args,
    duplicates,
    tracked_by_job,
    wait_until,
)

BATCH = 10
# One uploader: at most one batch (BATCH builds) is in Logilica's hands when the disk fails.
ARGS = ("--limit", "0", "--batch-size", str(BATCH), "--logilica-concurrency", "1", "--json")
JOBS, BUILDS = 2, 254


def _sh(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)


def _mount_or_skip(*cmd: str) -> None:
    res = _sh(*cmd)
    if res.returncode != 0:
        pytest.skip(f"`{' '.join(cmd)}` refused: {res.stderr.strip() or res.returncode}")


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: small enough to fill in a moment."""
    where = tmp_path / "vol"
    where.mkdir()
    _mount_or_skip("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where))
    try:
        yield where
    finally:
        _sh("umount", "-l", str(where))


@pytest.fixture
def ext4(tmp_path: Path) -> Iterator[Path]:
    """An ext4 filesystem in a 16 MiB image, loop-mounted."""
    if shutil.which("mkfs.ext4") is None:
        pytest.skip("mkfs.ext4 is not installed (e2fsprogs)")
    image, where = tmp_path / "disk.img", tmp_path / "vol"
    where.mkdir()
    with image.open("wb") as f:
        f.truncate(16 << 20)
    res = _sh("mkfs.ext4", "-q", "-F", str(image))
    assert res.returncode == 0, res.stderr
    _mount_or_skip("mount", "-o", "loop", str(image), str(where))
    try:
        yield where
    finally:
        _sh("umount", "-l", str(where))


def fill(directory: Path) -> Path:
    """Take every free block of the filesystem (a neighbour's log file, say)."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 4096)
    return filler


def summary_of(res: CliResult) -> dict:
    assert "Traceback" not in res.output, res.output
    return json.loads(res.stdout)


def assert_fault_reported(res: CliResult, directory: Path, error: str) -> str:
    """Exit 1 and one line naming a file under `directory`, the error and what to do."""
    assert res.code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("disk fault: ")]
    assert len(lines) == 1, res.output
    line = lines[0]
    assert f"cannot write {directory}/" in line and error in line, line
    assert "run again" in line and ("free space" in line or "fix the mount" in line), line
    return line


def assert_counts_match_trackers(summary: dict, tracker_dir: Path) -> int:
    """The summary's uploaded count is exactly the tracker lines written (all whole lines:
    tracked_by_job checks every file ends at a line boundary)."""
    written = sum(len(ids) for ids in tracked_by_job(tracker_dir).values())
    assert summary["totals"]["uploaded"] == written
    return written


def run_and_fault(
    sb: Sandbox, jobs: Path, tdir: Path, workdir: Path, *, after_lines: int, fault
) -> CliResult:
    """Start a backfill, wait until `after_lines` builds are tracked, then `fault()`."""
    cli = Cli(crawler_args(jobs, tdir, *ARGS), sb.env(), workdir)

    def tracked() -> int:
        return sum(len(ids) for ids in tracked_by_job(tdir).values())

    hit = wait_until(lambda: tracked() >= after_lines, f"{after_lines} tracked builds", cli)
    assert hit, "the run ended before the fault could be made"
    fault()
    return cli.wait()


def rerun_completes(sb: Sandbox, jobs: Path, tdir: Path, workdir: Path) -> dict[str, int]:
    """The run after the disk is fixed uploads the rest; builds Logilica got twice, by job."""
    res = Cli(crawler_args(jobs, tdir, *ARGS), sb.env(), workdir).wait()
    assert res.code == 0, res.output
    assert_complete(sb, tdir)
    by_job: dict[str, int] = {}
    owner = {b.id: b.job for b in sb.world.finished_builds()}
    for build_id in duplicates(sb):
        by_job[owner[build_id]] = by_job.get(owner[build_id], 0) + 1
    return by_job


def test_disk_full_mid_run_stops_uploads_and_costs_no_more_than_in_flight(tmp_path, tmpfs):
    world = generated_world(JOBS, BUILDS, presubmit_share=0.0, seed=16)
    with Sandbox(world, token=TOKEN, faults=Faults(latency=0.01)) as sb:
        jobs, tdir = sb.write_jobs_yaml(tmp_path / "jobs.yaml"), tmpfs / "tracker"
        filler: list[Path] = []
        res = run_and_fault(
            sb, jobs, tdir, tmp_path, after_lines=30, fault=lambda: filler.append(fill(tmpfs))
        )
        line = assert_fault_reported(res, tdir, "ENOSPC")
        summary = summary_of(res)
        written = assert_counts_match_trackers(summary, tdir)
        unrecorded = summary["totals"]["unrecorded"]
        received = len(sb.recorder.count_by_id())
        assert received - written == unrecorded <= BATCH
        total = sum(len(j.builds) for j in sb.world.jobs)
        assert written < total, "the disk filled too late to stop anything"
        posts = sb.recorder.posts
        filler[0].unlink()
        twice = rerun_completes(sb, jobs, tdir, tmp_path)
        assert all(n <= BATCH for n in twice.values()), twice
        print(
            f"\ndisk full mid-run ({JOBS} jobs x {BUILDS}, batch {BATCH}, 1 uploader): "
            f"tracked {written}/{total} at the fault, POSTs {posts}, unrecorded {unrecorded}, "
            f"uploaded twice after the rerun: {sum(twice.values())} {twice}\n  {line}"
        )


def test_disk_full_before_the_run_costs_no_upload(tmp_path, tmpfs):
    world = generated_world(JOBS, 30, presubmit_share=0.0, seed=17)
    with Sandbox(world, token=TOKEN) as sb:
        jobs, tdir = sb.write_jobs_yaml(tmp_path / "jobs.yaml"), tmpfs / "tracker"
        # A first run leaves lock files and trackers; the new builds come after the disk fills.
        first = Cli(crawler_args(jobs, tdir, *ARGS, "--limit", "10"), sb.env(), tmp_path).wait()
        assert first.code == 0, first.output
        posts = sb.recorder.posts
        filler = fill(tmpfs)
        res = Cli(crawler_args(jobs, tdir, *ARGS), sb.env(), tmp_path).wait()
        line = assert_fault_reported(res, tdir, "ENOSPC")
        assert sb.recorder.posts == posts, "a POST went out while no tracker could take it"
        assert summary_of(res)["totals"]["uploaded"] == 0
        filler.unlink()
        twice = rerun_completes(sb, jobs, tdir, tmp_path)
        assert not twice, twice
        print(f"\ndisk full before the run: 0 POSTs, 0 uploaded twice\n  {line}")


def test_read_only_mid_run_stops_uploads_and_costs_no_more_than_in_flight(tmp_path, ext4):
    world = generated_world(JOBS, 150, presubmit_share=0.0, seed=18)
    with Sandbox(world, token=TOKEN, faults=Faults(latency=0.01)) as sb:
        jobs, tdir = sb.write_jobs_yaml(tmp_path / "jobs.yaml"), ext4 / "tracker"
        seen: dict[str, set[str]] = {}

        def turn_read_only() -> None:
            os.sync()  # what is tracked so far reaches the image, as a kernel would write it
            res = _sh("mount", "-o", "remount,ro", str(ext4))  # refused while files are open
            if res.returncode != 0:
                res = _sh("mount", "-o", "remount,abort", str(ext4))
            assert res.returncode == 0, res.stderr

        res = run_and_fault(sb, jobs, tdir, tmp_path, after_lines=10, fault=turn_read_only)
        line = assert_fault_reported(res, tdir, "")
        assert "EROFS" in line or "EIO" in line, line
        summary = summary_of(res)
        written = assert_counts_match_trackers(summary, tdir)
        seen.update(tracked_by_job(tdir))
        unrecorded = summary["totals"]["unrecorded"]
        received = len(sb.recorder.count_by_id())
        assert received - written == unrecorded <= BATCH
        # Fix the mount as an operator would: unmount, check, mount again.
        image = tmp_path / "disk.img"
        assert _sh("umount", str(ext4)).returncode == 0
        assert _sh("e2fsck", "-fy", str(image)).returncode in (0, 1)
        assert _sh("mount", "-o", "loop", str(image), str(ext4)).returncode == 0
        # An aborted journal may lose lines the kernel had not written yet: those are the
        # filesystem's loss, not the crawler's, and are counted apart.
        after = tracked_by_job(tdir)
        lost_by_fs = sum(len(seen[j] - after.get(j, set())) for j in seen)
        twice = rerun_completes(sb, jobs, tdir, tmp_path)
        assert sum(twice.values()) <= BATCH * JOBS + lost_by_fs, twice
        assert all(n <= BATCH + lost_by_fs for n in twice.values()), twice
        print(
            f"\nread-only mid-run ({JOBS} jobs x 150, batch {BATCH}, 1 uploader): tracked "
            f"{written} at the fault, unrecorded {unrecorded}, lines the aborted journal lost "
            f"{lost_by_fs}, uploaded twice after the rerun: {sum(twice.values())}\n  {line}"
        )


def test_read_only_before_the_run_makes_no_request(tmp_path, ext4):
    with Sandbox(generated_world(JOBS, 10, seed=19), token=TOKEN) as sb:
        jobs, tdir = sb.write_jobs_yaml(tmp_path / "jobs.yaml"), ext4 / "tracker"
        tdir.mkdir()
        assert _sh("mount", "-o", "remount,ro", str(ext4)).returncode == 0
        res = Cli(crawler_args(jobs, tdir, *ARGS), sb.env(), tmp_path).wait()
        line = assert_fault_reported(res, tdir, "EROFS")
        assert sb.recorder.posts == 0
        assert sb.deck_requests.total() + sb.gcs_requests.total() == 0
        print(f"\nread-only before the run: 0 requests\n  {line}")


def test_fill_helper_really_fills(tmpfs):
    """The fault is real: after fill(), the filesystem refuses a new block."""
    filler = fill(tmpfs)
    with pytest.raises(OSError) as caught, (tmpfs / "more").open("wb", buffering=0) as f:
        f.write(b"x" * 8192)
    assert caught.value.errno == errno.ENOSPC
    filler.unlink()
