"""--shard I/N and the Kubernetes manifest that runs one shard per Indexed Job pod."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from crawler.core.errors import ConfigError
from crawler.settings.config import parse_shard, shard_of

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "kubernetes"
NAMES = st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,40}", fullmatch=True), unique=True, max_size=60)


@given(names=NAMES, shards=st.integers(min_value=1, max_value=12))
def test_shards_are_disjoint_and_cover_the_job_list(names, shards):
    parts = [[n for n in names if shard_of(n, shards) == i] for i in range(shards)]
    assert sorted(n for part in parts for n in part) == sorted(names)
    assert sum(len(p) for p in parts) == len(names)


def test_shard_is_stable_across_machines_and_runs():
    # Pinned values: the assignment must not depend on PYTHONHASHSEED, the platform or the
    # Python version, or two pods of one run would disagree about who owns a job.
    assert [shard_of(f"job-{i}", 4) for i in range(8)] == [0, 2, 1, 3, 3, 0, 3, 2]
    assert shard_of("periodic-ci-openshift-release-master-ci-4.21-e2e-aws-ovn", 7) == 6


def test_shards_spread_a_realistic_job_list():
    names = [f"periodic-ci-org-repo-{i}-e2e" for i in range(400)]
    sizes = [sum(1 for n in names if shard_of(n, 4) == i) for i in range(4)]
    assert min(sizes) > 60


@pytest.mark.parametrize("text", ["0/1", "3/4", " 1 / 2 "])
def test_parse_shard_accepts(text):
    index, count = parse_shard(text)
    assert 0 <= index < count


@pytest.mark.parametrize("text", ["4/4", "-1/4", "1", "a/b", "1/0", ""])
def test_parse_shard_rejects(text):
    with pytest.raises(ConfigError, match="I/N"):
        parse_shard(text)


def _docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def test_cronjob_manifest_runs_one_shard_per_indexed_pod():
    (cron,) = _docs("cronjob.yaml")
    assert cron["apiVersion"] == "batch/v1" and cron["kind"] == "CronJob"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == job["parallelism"]
    pod = job["template"]["spec"]
    (container,) = pod["containers"]
    shard_args = [a for a in container["args"] if a.startswith("--shard=")]
    assert shard_args == [f"--shard=$(JOB_COMPLETION_INDEX)/{job['completions']}"]
    assert container["args"][0] == "run"
    assert any(a.startswith("--deadline=") for a in container["args"])
    token = next(e for e in container["env"] if e["name"] == "LOGILICA_TOKEN")
    assert "secretKeyRef" in token["valueFrom"] and "value" not in token
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    tracker_arg = next(a for a in container["args"] if a.startswith("--tracker-dir="))
    assert tracker_arg.split("=", 1)[1].startswith(mounts["trackers"])
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = volumes["trackers"]["persistentVolumeClaim"]["claimName"]
    (pvc,) = _docs("pvc.yaml")
    assert pvc["kind"] == "PersistentVolumeClaim" and pvc["metadata"]["name"] == claim
    (secret,) = _docs("secret.example.yaml")
    assert secret["metadata"]["name"] == token["valueFrom"]["secretKeyRef"]["name"]


def test_kustomization_names_existing_files_and_a_valid_jobs_file():
    (kust,) = _docs("kustomization.yaml")
    for res in kust["resources"]:
        assert (DEPLOY / res).is_file()
    from crawler.settings.jobsfile import load_config

    for gen in kust["configMapGenerator"]:
        for f in gen["files"]:
            assert load_config(DEPLOY / f).jobs
