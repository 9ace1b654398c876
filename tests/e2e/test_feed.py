"""Deck's ProwJob feed and jobs by pattern, end to end: the real CLI against the sandbox's deck,
which serves /prowjobs.js with a retention window and a hidden job (crawler.sandbox.feed).

What must hold: a cron run over covered jobs reads one feed and no job page, and still uploads
every new build exactly once; a job the feed does not show is found blind and read page by
page for good; a feed that fails changes nothing but the cost; `match:` items expand from the
feed, are remembered, and fail the run by name when they match nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from crawler.sandbox import Faults, Sandbox
from crawler.sandbox.feed import HIDDEN_JOBS
from tests.e2e.conftest import (
    TOKEN,
    assert_exactly_once,
    read_tracker,
    run_crawler,
    run_json,
)

HIDDEN = next(iter(HIDDEN_JOBS))


def state(tmp: Path, job: str) -> dict:
    return json.loads((tmp / "tracker" / f"{job}.state.json").read_text())


def jobs_file(sb: Sandbox, tmp: Path, items: list, **top: object) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "jobs.yaml"
    # `prow:` is the sandbox's deck: without it match items would go to OpenShift's.
    doc = {"logilica": {"domain": sb.domain}, "prow": sb.deck_url, **top, "jobs": items}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_cron_over_covered_jobs_reads_the_feed_alone_and_uploads_new_builds_once(sandbox, tmp_path):
    first = run_json(sandbox, tmp_path, "--limit", "0", feed=True)
    assert first["feed_requests"] == 1
    covered = [j.name for j in sandbox.world.jobs if j.name != HIDDEN]
    for name in covered:
        assert state(tmp_path, name)["feed_checked"] is True
    for name in covered[:3]:
        sandbox.add_builds(name, 2)
    pages = sandbox.deck_requests.total()
    second = run_json(sandbox, tmp_path, feed=True)
    # One page: the hidden job's. The covered jobs' new builds came from the feed.
    assert sandbox.deck_requests.total() - pages == 1
    assert second["totals"]["uploaded"] == 6
    assert {j["name"]: j["discovery"] for j in second["jobs"]}[HIDDEN] == "deck"
    assert all(j["discovery"] == "feed" for j in second["jobs"] if j["name"] != HIDDEN)
    assert_exactly_once(sandbox, tmp_path / "tracker")


def test_a_hidden_job_is_found_blind_once_and_read_page_by_page_for_good(sandbox, tmp_path):
    first = run_crawler(sandbox, tmp_path, "--limit", "0", feed=True)
    assert first.code == 0, first.output
    note = f"discovery job={HIDDEN}: feed: blind for this job"
    assert first.output.count(note) == 1
    saved = state(tmp_path, HIDDEN)
    assert saved["feed_blind"] and not saved["feed_checked"]
    sandbox.add_builds(HIDDEN, 1)
    again = run_json(sandbox, tmp_path, feed=True)
    assert note not in again["_output"]  # said once, remembered
    hidden = next(j for j in again["jobs"] if j["name"] == HIDDEN)
    assert hidden["discovery"] == "deck" and hidden["uploaded"] == 1
    assert_exactly_once(sandbox, tmp_path / "tracker")


def test_a_failing_feed_changes_nothing_but_the_cost(tmp_path):
    with Sandbox(token=TOKEN, faults=Faults(feed_error=503)) as sb:
        first = run_json(sb, tmp_path, "--limit", "0", feed=True)
        pages = sb.deck_requests.total()
        second = run_json(sb, tmp_path, feed=True)
        assert second["exit_code"] == 0
        assert (
            "unavailable" in second["_output"]
            and "reading job pages instead" in (second["_output"])
        )
        assert sb.deck_requests.total() - pages == len(sb.world.jobs)
        assert all(j["discovery"] != "feed" for j in first["jobs"] + second["jobs"])
        assert_exactly_once(sb, tmp_path / "tracker")


def test_no_feed_flag_makes_no_feed_request(sandbox, tmp_path):
    summary = run_json(sandbox, tmp_path, "--limit", "0", "--no-feed", feed=True)
    assert summary["feed_requests"] == 0 and sandbox.feed_requests.total() == 0


def test_match_items_expand_from_the_feed_and_are_remembered(sandbox, tmp_path):
    presubmits = sorted(j.name for j in sandbox.world.jobs if j.kind == "presubmit")
    visible = [n for n in presubmits if n != HIDDEN]
    path = jobs_file(sandbox, tmp_path, [{"match": {"job": "pull-ci-*", "type": "presubmit"}}])
    listed = run_crawler(sandbox, tmp_path, "--json", command="jobs", jobs=path, feed=True)
    assert listed.code == 0, listed.output
    names = [j["name"] for j in json.loads(listed.stdout)["jobs"]]
    assert names == visible  # the hidden job is not in the feed, so no pattern can find it
    assert not (tmp_path / "tracker" / "matches.json").exists()  # `jobs` writes nothing
    summary = run_json(sandbox, tmp_path, "--limit", "0", jobs=path, feed=True)
    assert sorted(j["name"] for j in summary["jobs"]) == visible
    for name in visible:
        assert read_tracker(tmp_path / "tracker", name)
    remembered = json.loads((tmp_path / "tracker" / "matches.json").read_text())
    assert sorted(next(iter(remembered.values()))) == visible
    # Without the feed the remembered jobs are crawled all the same.
    offline = run_json(sandbox, tmp_path, "--no-feed", jobs=path, feed=True)
    assert sorted(j["name"] for j in offline["jobs"]) == visible


def test_a_match_item_that_matches_nothing_fails_the_run_by_name(sandbox, tmp_path):
    url = sandbox.job_urls()[sandbox.world.jobs[0].name]
    path = jobs_file(sandbox, tmp_path, [url, {"match": "no-such-job-*"}])
    summary = run_json(sandbox, tmp_path, "--limit", "0", expect=1, jobs=path, feed=True)
    assert 'match "no-such-job-*" matched no job' in summary["_output"]
    assert summary["problems"] == ['match "no-such-job-*" matched no job']
    assert [j["name"] for j in summary["jobs"]] == [sandbox.world.jobs[0].name]
    assert summary["jobs"][0]["uploaded"] > 0  # the other jobs still ran
    listed = run_crawler(sandbox, tmp_path, command="jobs", jobs=path, feed=True)
    assert listed.code == 1 and "matched no job" in listed.output


def test_an_explicit_url_item_wins_over_a_match_with_its_own_settings(sandbox, tmp_path):
    job = next(j for j in sandbox.world.jobs if j.kind == "presubmit" and j.name != HIDDEN)
    url = sandbox.job_urls()[job.name]
    items = [{"url": url, "limit": 1}, {"match": {"type": "presubmit"}, "limit": 0}]
    summary = run_json(sandbox, tmp_path, jobs=jobs_file(sandbox, tmp_path, items), feed=True)
    by_name = {j["name"]: j for j in summary["jobs"]}
    assert by_name[job.name]["uploaded"] == 1  # its own limit, not the match item's


def test_validate_refuses_bad_match_items_with_file_and_line(sandbox, tmp_path):
    cases = [
        ([{"match": "x-*", "url": "https://d/job-history/gs/b/logs/x"}], "has both 'url'"),
        ([{"match": {"type": "nightly"}}], "type"),
        ([{"match": {"repo": "not-a-repo"}}], "ORG/NAME"),
        ([{"match": ""}], "empty"),
        ([{"match": {"colour": "red"}}], "colour"),
    ]
    for items, phrase in cases:
        path = jobs_file(sandbox, tmp_path, items)
        res = run_crawler(sandbox, tmp_path, command="validate", jobs=path)
        assert res.code == 2, res.output
        assert f"{path}:" in res.output and phrase in res.output, res.output
    path = jobs_file(sandbox, tmp_path, [{"match": "x-*"}], prow="ftp://deck")
    res = run_crawler(sandbox, tmp_path, command="validate", jobs=path)
    assert res.code == 2 and "prow" in res.output, res.output
