"""Discovery users can trust: what a run reports matches what deck's job-history page shows.

Each case is a way a bucket listing alone goes silently wrong (a mistyped job, a bucket that
refuses listing, builds in a bucket nobody told us about, a listing that finds nothing) or a
job a person copies from the browser; the real CLI runs against the sandbox.
"""

from __future__ import annotations

import json

import pytest

from crawler.sandbox import Faults, Sandbox
from crawler.sandbox.records import MOVED_BUCKET, PRIVATE_BUCKET
from tests.e2e.conftest import (
    TOKEN,
    assert_exactly_once,
    finished_ids,
    read_tracker,
    run_crawler,
    run_json,
)

PERIODIC = "periodic-ci-codeready-toolchain-toolchain-e2e-master-ci-daily"
PRESUBMIT = "pull-ci-openshift-console-master-e2e-gcp-console"


def _listings(sb: Sandbox, bucket: str | None = None) -> list[str]:
    """Bucket listing requests the sandbox's GCS saw (of one bucket)."""
    return [
        h.path
        for h in sb.faults.hits("gcs")
        if "/o?" in h.path and (bucket is None or f"/b/{bucket}/o?" in h.path)
    ]


# -- 1. a mistyped job name -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "gcs", "deck"])
def test_mistyped_job_fails_by_name_and_the_others_complete(sandbox, tmp_path, mode):
    urls = sandbox.job_urls()
    typo = urls[PERIODIC].replace(PERIODIC, PERIODIC + "-nightly")
    jobs = [{"url": u} for u in urls.values()] + [{"url": typo}]
    sandbox.write_jobs_yaml(tmp_path / "jobs.yaml", extra={"jobs": jobs})
    summary = run_json(sandbox, tmp_path, "--limit", "0", "--discovery", mode, expect=1)
    by_name = {j["name"]: j for j in summary["jobs"]}
    bad = by_name[PERIODIC + "-nightly"]
    assert bad["status"] == "failed"
    assert any("failed to locate build data" in e for e in bad["errors"]), bad
    assert f"failed job={PERIODIC}-nightly" in summary["_output"]
    assert_exactly_once(sandbox, tmp_path / "tracker")


# -- 2. a bucket that refuses anonymous listing ---------------------------------------------------


def test_bucket_refusing_listing_falls_back_to_deck_and_uploads_everything(tmp_path):
    faults = Faults(deny_list_buckets=frozenset({PRIVATE_BUCKET}))
    with Sandbox(token=TOKEN, faults=faults) as sb:
        summary = run_json(sb, tmp_path, "--limit", "0")
        assert_exactly_once(sb, tmp_path / "tracker")
        assert summary["totals"]["uploaded"] == sum(finished_ids(sb).values())
        out = summary["_output"]
        for job in sb.world.jobs:
            said = [ln for ln in out.splitlines() if f"job={job.name}" in ln and "refused" in ln]
            assert len(said) == 1, said  # said once per job, not per page or retry
            assert "walking deck pages" in said[0] and f"gs://{PRIVATE_BUCKET}" in said[0]


def test_a_refused_listing_is_remembered_while_the_job_catches_up(tmp_path):
    faults = Faults(deny_list_buckets=frozenset({PRIVATE_BUCKET}))
    with Sandbox(token=TOKEN, faults=faults) as sb:
        first = run_json(sb, tmp_path, "--limit", "5", "--job", PERIODIC)
        assert first["jobs"][0]["uploaded"] == 5 and first["jobs"][0]["backlog"] > 20
        before = len(_listings(sb, PRIVATE_BUCKET))
        # A backlog that big would make auto list again; the job's state says not to.
        second = run_json(sb, tmp_path, "--limit", "5", "--job", PERIODIC)
        assert second["jobs"][0]["discovery"] == "deck"
        assert len(_listings(sb, PRIVATE_BUCKET)) == before
        assert "refused" not in second["_output"]
        run_json(sb, tmp_path, "--limit", "0", "--job", PERIODIC)
        got = sb.recorder.count_by_id()
        assert got == finished_ids(sb, PERIODIC)


# -- 3. builds in a bucket the crawler cannot guess -----------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "gcs"])
def test_builds_in_a_bucket_named_only_by_deck_are_found(tmp_path, mode):
    faults = Faults(moved_jobs=frozenset({PERIODIC, PRESUBMIT}))
    with Sandbox(token=TOKEN, faults=faults) as sb:
        moved = [b for b in sb.world.finished_builds() if b.bucket == MOVED_BUCKET]
        assert moved
        run_json(sb, tmp_path, "--limit", "0", "--discovery", mode)
        assert_exactly_once(sb, tmp_path / "tracker")
        # Found by listing the bucket deck's newest page names, not by a detour.
        assert _listings(sb, MOVED_BUCKET)
        assert sb.deck_requests.total() == len(sb.world.jobs)


def test_listing_that_misses_what_deck_shows_is_not_trusted(tmp_path):
    faults = Faults(unlisted_jobs=frozenset({PERIODIC}))
    with Sandbox(token=TOKEN, faults=faults) as sb:
        first = run_json(sb, tmp_path, "--limit", "5")
        job = next(j for j in first["jobs"] if j["name"] == PERIODIC)
        assert job["uploaded"] == 5 and job["discovery"] == "deck"
        assert "not trusted" in first["_output"]
        # Still catching up (a backlog), yet the next run walks deck at once: no listing.
        before = len(_listings(sb))
        others = len(sb.world.jobs) - 1
        run_json(sb, tmp_path, "--limit", "0")
        assert len(_listings(sb)) - before <= 2 * others
        assert not [p for p in _listings(sb)[before:] if PERIODIC in p]
        assert_exactly_once(sb, tmp_path / "tracker")


# -- 4. presubmits whose page shows no Refs -------------------------------------------------------


def test_presubmit_without_prowjob_takes_its_pull_from_started_json(tmp_path):
    faults = Faults(no_prowjob_jobs=frozenset({PRESUBMIT}))
    with Sandbox(token=TOKEN, faults=faults) as sb:
        run_json(sb, tmp_path, "--limit", "0", "--discovery", "deck")
        assert_exactly_once(sb, tmp_path / "tracker")
        job = sb.world.job(PRESUBMIT)
        by_id = {b.id: b for b in job.builds}
        checked = 0
        for _repo, build in sb.recorder.received():
            src = by_id.get(build["originalID"])
            if src is None:
                continue
            pull = src.started_json["pull"]
            head = src.started_json["repos"][job.repo].split(",")[1].split(":")[1]
            assert build["pullRequestUrls"] == [f"https://github.com/{job.repo}/pull/{pull}"]
            assert build["commit"] == head
            assert build["repoUrl"] == f"https://github.com/{job.repo}"
            checked += 1
        assert checked == len(finished_ids(sb, PRESUBMIT))


# -- 5. a job URL copied from the browser after paging --------------------------------------------


@pytest.mark.parametrize("query", ["?buildId=", "?buildId={id}"])
def test_job_url_with_a_build_id_is_the_same_job(sandbox, tmp_path, query):
    job = sandbox.world.job(PERIODIC)
    url = sandbox.job_urls()[PERIODIC] + query.format(id=job.builds[25].id)
    jobs = tmp_path / "jobs.yaml"
    sandbox.write_jobs_yaml(jobs, extra={"jobs": [{"url": url}]})
    res = run_crawler(sandbox, tmp_path, command="validate")
    assert res.code == 0, res.output
    assert "buildId" in res.stdout and "ignored" in res.stdout
    summary = run_json(sandbox, tmp_path, "--limit", "0", "--discovery", "deck")
    assert summary["totals"]["uploaded"] == len(finished_ids(sandbox, PERIODIC))
    assert read_tracker(tmp_path / "tracker", PERIODIC)


def test_s3_job_url_is_refused_clearly(sandbox, tmp_path):
    url = sandbox.job_urls()[PERIODIC].replace("/gs/", "/s3/")
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(json.dumps({"jobs": [url]}))
    res = run_crawler(sandbox, tmp_path, command="validate")
    assert res.code == 2 and "s3" in res.stderr and "GCS" in res.stderr, res.output
    assert f"{jobs}:" in res.stderr
