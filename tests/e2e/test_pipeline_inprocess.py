"""The pipeline driven in-process against the sandbox: knobs a subprocess cannot reach."""

from __future__ import annotations

import io

import pytest

from crawler.core.jobs import RunOptions
from crawler.logilica.client import Secret
from crawler.output.report import PlainReporter
from crawler.pipeline import Pipeline
from crawler.pipeline import run as pipeline_mod
from crawler.sandbox import Sandbox, generated_world
from crawler.settings.config import Overrides, apply_overrides
from crawler.settings.jobsfile import load_config
from crawler.state.tracker import Tracker


@pytest.mark.parametrize("slots", [1, 3])
async def test_bounded_job_slots_still_finish_every_job(monkeypatch, tmp_path, slots):
    """With fewer job slots than jobs, a job's slot is freed when its last build is done
    (not at the end of the run): a wrong count would hang here or lose builds."""
    monkeypatch.setattr(pipeline_mod, "MAX_ACTIVE_JOBS", slots)
    with Sandbox(generated_world(7, 12, seed=5)) as sb:
        config = load_config(sb.write_jobs_yaml(tmp_path / "jobs.yaml"))
        config = apply_overrides(config, Overrides(limit=0))
        options = RunOptions(
            tracker_dir=tmp_path / "tracker",
            gcs_api_root=sb.gcs_url,
            token=Secret(sb.token),
            domain=sb.domain,
            api_url=sb.logilica_url,
        )
        out = io.StringIO()
        summary = await Pipeline(config, options, PlainReporter(out)).run()
        assert summary.exit_code == 0, out.getvalue()
        assert sb.recorder.count_by_id() == {b.id: 1 for b in sb.world.finished_builds()}
        # Every lock was released: each job's lock can be taken again right away.
        for job in config.jobs:
            t = Tracker(tmp_path / "tracker", job.name)
            await t.lock()
            await t.close()
