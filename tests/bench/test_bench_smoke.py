"""The benchmark harness runs end to end on a tiny shape and writes sane JSON (no timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_backfill_tiny_shape_end_to_end(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOGILICA_", "STORAGE_"))}
    cmd = [sys.executable, "-m", "bench.run", "backfill", "--jobs", "2", "--builds", "10"]
    cmd += ["--latency", "0", "--baseline-sample", "5", "--out", str(tmp_path)]
    proc = subprocess.run(
        cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "backfill: 2 jobs x 10 builds" in proc.stdout

    result = json.loads((tmp_path / "backfill.json").read_text())
    assert result["scenario"] == "backfill"
    assert result["shape"]["jobs"] == 2 and result["shape"]["builds"] == 10

    base = result["baseline"]
    assert base["builds"] == 5 and base["failed"] == 0
    assert base["builds_per_s"] > 0
    assert base["requests"] == {"deck": 1, "gcs": 10, "logilica": 10}

    modes = [r["discovery"] for r in result["runs"]]
    assert modes == (["default", "deck", "gcs"] if result["discovery_option"] else ["default"])
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
