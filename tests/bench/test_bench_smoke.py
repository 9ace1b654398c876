"""The benchmark harness runs end to end on a tiny shape and writes sane JSON (no timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOGILICA_", "STORAGE_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_backfill_tiny_shape_end_to_end(tmp_path: Path) -> None:
    proc = _bench(
        "backfill", "--jobs", "2", "--builds", "10", "--latency", "0",
        "--baseline-sample", "5", "--out", str(tmp_path),
    )  # fmt: skip
    assert "backfill: 2 jobs x 10 builds" in proc.stdout

    result = json.loads((tmp_path / "backfill.json").read_text())
    assert result["scenario"] == "backfill"
    assert result["shape"]["jobs"] == 2 and result["shape"]["builds"] == 10

    base = result["baseline"]
    assert base["builds"] == 5 and base["failed"] == 0
    assert base["builds_per_s"] > 0
    assert base["requests"] == {"deck": 1, "gcs": 10, "logilica": 10}

    assert [r["discovery"] for r in result["runs"]] == ["default", "deck", "gcs"]
    for run in result["runs"]:
        assert run["exit_code"] == 0, run
        assert run["uploaded"] == run["builds_in_shape"] == 20
        assert run["failed"] == 0
        assert run["server_requests"]["builds_received"] == 20
        assert run["speedup"] > 0
        assert run["cpu_s"] > 0 and run["peak_rss_mb"] > 10
        assert run["wall_s"] > 0 and run["builds_per_s"] > 0
        assert set(run["client_requests"]) >= {"deck", "gcs", "logilica"}
        assert run["client_requests"]["logilica"] >= 2  # GET /repositories + at least 1 POST
        assert run["gcs_requests_per_build"] >= 2
        bound = run["bound"]
        assert bound["builds_per_s"] > 0 and bound["limited_by"] in ("deck", "gcs", "logilica")
        assert run["efficiency"] > 0


def test_small_tiny_shape_end_to_end(tmp_path: Path) -> None:
    # 2 repetitions instead of 5: the second already runs from a fresh copy of the trackers.
    proc = _bench(
        "small", "--jobs", "2", "--builds", "4", "--latency", "0", "--repeat", "2",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert "small: 2 jobs x 2 new builds (of 4)" in proc.stdout

    result = json.loads((tmp_path / "small.json").read_text())
    assert result["scenario"] == "small"
    assert result["new_per_job"] == 2 and result["expected_uploads"] == 4
    assert result["fill"]["exit_code"] == 0 and result["fill"]["uploaded"] == 4
    assert "--limit 2" in result["fill"]["command"]
    assert "--limit" not in result["command"]  # the measured run: the crawler's default limit

    base = result["baseline"]
    assert base["builds"] == 4 and base["failed"] == 0 and base["per_job"] == 2
    assert base["requests"] == {"deck": 2, "gcs": 8, "logilica": 8}
    assert result["baseline_matches_new_builds"] is True

    reps = result["repetitions"]
    assert [r["repetition"] for r in reps] == [1, 2]
    for rep in reps:
        assert rep["exit_code"] == 0, rep
        assert rep["uploaded"] == rep["builds_received"] == 4
        assert rep["failed"] == 0
        assert rep["wall_s"] > 0 and rep["cpu_s"] > 0 and rep["peak_rss_mb"] > 10
        assert 0 < rep["first_request_s"] < rep["wall_s"]
    assert result["all_uploaded"] is True and result["met"]["all_uploaded"] is True

    wall = result["wall_s"]
    assert 0 < wall["min_s"] <= wall["median_s"] <= wall["max_s"]
    assert result["speedup"] > 0
    for name in ("help", "validate"):
        fig = result["startup"][name]
        assert len(fig["walls_s"]) == 2 and fig["exit_codes"] == [0, 0]
        assert 0 < fig["median_s"] < 60
    assert len(result["startup"]["first_request"]["values_s"]) == 2
    assert set(result["targets"]) == {"speedup", "help_s", "validate_s", "first_request_s"}
    assert set(result["met"]) == {"all_uploaded", "speedup", "help", "validate", "first_request"}
