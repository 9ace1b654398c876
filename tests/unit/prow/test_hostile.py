"""Hostile page content, from deck's HTML to the Logilica build object.

test_prow.py and test_payload.py already check each step alone on random JSON (the parser only
raises PageError, the mapping only BuildError). These tests go through both steps with content
a broken or malicious deck could serve: markup and unicode in Refs, absurd times and numbers,
IDs that are not canonical decimals. Whatever the page says, the upload is either the right
build object (what GCS says about the build the page names) or a clear per-build error.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.core.builds import started_epoch
from crawler.core.errors import BuildError
from crawler.core.jobs import TriggeredBy
from crawler.core.records import Artifacts
from crawler.prow.pages import parse_history_page
from tests.unit.factories import (
    BUCKET,
    OPENSHIFT_DECK,
    SHA,
    T0,
    T1,
    artifacts,
    deck_page,
    job_spec,
    page_entry,
    payload_for,
    pr_build_path,
    started_json,
)

JOB = "pull-ci-openshift-console-master-e2e"
PAGE_URL = f"{OPENSHIFT_DECK}/job-history/gs/{BUCKET}/pr-logs/directory/{JOB}"
TRIGGER = TriggeredBy(name="OpenShift CI", email="", account_id="openshift-ci")
REPO = "openshift/console"
SPEC = job_spec(JOB, presubmit=True, deck=OPENSHIFT_DECK, repo=REPO)  # `repo:` configured


def folder(build_id: str) -> str:
    """The GCS folder of JOB's build `build_id` for PR 7."""
    return pr_build_path("openshift_console", 7, JOB, build_id)


def entry(build_id: Any, **fields: Any) -> dict[str, Any]:
    """page_entry for JOB's build `build_id` of PR 7, started 07:40:34, 1 ns long."""
    fields = {"started": "2025-07-30T07:40:34Z", "duration": 1, **fields}
    return page_entry(build_id, path=folder(str(build_id)), **fields)


# -- build IDs ------------------------------------------------------------------------------------


def test_an_id_with_leading_zeros_is_not_another_build() -> None:
    """`0123` is the integer 123: listed with `123` it would be uploaded and tracked twice
    under two originalIDs. Deck writes IDs as Go formats integers, never with leading zeros."""
    parsed = parse_history_page(
        deck_page([entry("123"), entry("0123"), entry("00")], bare=True), PAGE_URL
    )
    assert [b.id for b in parsed.builds] == ["123"]
    assert sorted(s.id for s in parsed.skipped) == ["00", "0123"]
    assert all("decimal" in s.reason for s in parsed.skipped)


@pytest.mark.parametrize(
    "bad_id",
    ["-5", "+5", " 5", "5 ", "5x", "0x1F", "1e3", "5.0", "\u0661\u0662", "\uff15", "", "0"],
)
def test_ids_that_are_not_plain_decimals_never_become_builds(bad_id: str) -> None:
    parsed = parse_history_page(deck_page([entry(bad_id)], bare=True), PAGE_URL)
    if bad_id == "0":  # a canonical decimal: deck's own IDs start at 1, but "0" is no lie
        assert [b.id for b in parsed.builds] == ["0"]
        return
    assert parsed.builds == []


def test_huge_ids_keep_every_digit() -> None:
    huge = "9" * 40
    parsed = parse_history_page(deck_page([entry(huge), entry("16")], bare=True), PAGE_URL)
    assert [b.id for b in parsed.builds] == [huge, "16"]
    payload = payload_for(SPEC, parsed.builds[0], artifacts(result="SUCCESS", repo=REPO), TRIGGER)
    assert payload.body["originalID"] == huge
    assert payload.body["url"].endswith(f"/{huge}")
    assert payload.body["stages"][0]["id"] == huge


# -- the page's presentational fields never leak into the upload ----------------------------------

_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30
) | st.sampled_from(
    [
        "<script>alert(1)</script>",
        "</script><script>var allBuilds = [];</script>",
        "&lt;- Older Runs",
        '<a href="?buildId=1">&lt;- Older Runs</a>',
        "\u202eevil\u202c",
        "\ufeff\u2028\u2029",
        "\x00",
        "\U0001f4a5" * 5,
    ]
)
_number = st.integers(min_value=-(2**70), max_value=2**70)
_started = _text | st.sampled_from(
    [
        "-0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "2025-13-45T99:99:99Z",
        "99999-01-01T00:00:00Z",
        "2025-07-30T07:40:34+14:00",
    ]
)
_result = (
    st.sampled_from(
        [
            "SUCCESS",
            "failure",
            "Aborted",
            "ERROR",
            "UNKNOWN",
            "<b>SUCCESS</b>",
            "SUCCESS\u0000",
            "succe\u017fs",
        ]
    )
    | _text
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    build_id=st.integers(min_value=1, max_value=10**30).map(str),
    started=_started,
    duration=_number,
    result=_result,
    title=_text,
    author=_text,
    org=_text,
    pr=st.integers(min_value=1, max_value=10**6),
)
def test_hostile_page_fields_give_the_build_gcs_describes(
    build_id: str,
    started: str,
    duration: int,
    result: str,
    title: str,
    author: str,
    org: str,
    pr: int,
) -> None:
    refs = {
        "org": org,
        "repo": "console",
        "base_ref": "master",
        "pulls": [
            {
                "number": pr,
                "author": author,
                "sha": SHA,
                "title": title,
                "link": f"https://github.com/openshift/console/pull/{pr}",
            }
        ],
    }
    text = deck_page(
        [entry(build_id, started=started, duration=duration, result=result, refs=refs)], bare=True
    )
    parsed = parse_history_page(text, PAGE_URL)
    assert parsed.skipped == []
    (build,) = parsed.builds
    # The strings arrive exactly as deck had them, whatever Go's escaping did on the way.
    assert build.id == build_id
    assert build.pull is not None and build.pull.author == author and build.pull.number == pr
    assert started_epoch(build) is None or isinstance(started_epoch(build), int)
    for art in (artifacts(result="SUCCESS", repo=REPO), artifacts(result="aborted", repo=REPO)):
        b = payload_for(SPEC, build, art, TRIGGER).body
        # What the upload says about time, outcome and identity comes from GCS, not the page.
        assert (b["startedAt"], b["completedAt"]) == (T0, T1)
        assert b["conclusion"] == (
            "Success" if art.finished["result"] == "SUCCESS" else "Cancelled"
        )
        assert b["originalID"] == b["stages"][0]["id"] == build_id
        assert b["url"] == f"{OPENSHIFT_DECK}/view/gs/{BUCKET}/{folder(build_id)}"
        assert b["repoUrl"] == "https://github.com/openshift/console"
        assert b["commit"] == SHA
        assert b["pullRequestUrls"] == [f"https://github.com/openshift/console/pull/{pr}"]
        # The PR author is data: passed on verbatim (Logilica's JSON carries it safely).
        if author.strip():
            assert b["triggeredBy"]["name"] == author


@settings(max_examples=200, deadline=None)
@given(org=_text, repo=_text, pr=_number | _text, link=_text)
def test_hostile_refs_without_a_configured_repo_map_or_fail_clearly(
    org: str, repo: str, pr: Any, link: str
) -> None:
    """With no `repo:` for the job, the page's Refs name the repository: markup there must
    give a clear BuildError, never a build filed under a repository that is not ORG/NAME."""
    refs = {"org": org, "repo": repo, "pulls": [{"number": pr, "author": "a", "link": link}]}
    parsed = parse_history_page(deck_page([entry("42", refs=refs)], bare=True), PAGE_URL)
    (build,) = parsed.builds
    art = Artifacts(started=started_json(), finished={"timestamp": T1, "result": "SUCCESS"})
    try:
        payload = payload_for(
            job_spec(JOB, presubmit=True, deck=OPENSHIFT_DECK), build, art, TRIGGER
        )
    except BuildError as exc:
        assert "repo" in str(exc)
        return
    assert payload.repo == f"{org}/{repo}"
    assert "<" not in payload.repo and "/" in payload.repo
    assert payload.body["repoUrl"] == f"https://github.com/{org}/{repo}"
    for url in payload.body["pullRequestUrls"]:
        assert url.startswith("https://")


@settings(max_examples=200, deadline=None)
@given(
    junk=_text,
    entries=st.lists(
        st.sampled_from([entry("7"), entry("0007"), "x", None, entry(7), entry("8", refs=[])]),
        max_size=6,
    ),
)
def test_markup_around_the_build_list_never_breaks_parsing(junk: str, entries: list) -> None:
    """Whatever the HTML around it holds, the list decodes the same (or the page is refused)."""
    text = deck_page(entries, bare=True).replace("<head>", f"<head>{junk}", 1)
    if "var allBuilds = " in junk:
        return  # a decoy before the real list: not something deck's escaping lets through
    parsed = parse_history_page(text, PAGE_URL)
    expected = [e["ID"] for e in entries if isinstance(e, dict) and e["ID"] in ("7", "8")]
    assert [b.id for b in parsed.builds] == list(dict.fromkeys(expected))
    assert all(b.id == str(int(b.id)) for b in parsed.builds)
