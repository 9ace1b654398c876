"""crawler.logilica.payload: build artifacts -> Logilica build object (docs/formats.md)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.core.builds import BuildRef, PullRef
from crawler.core.errors import BuildError
from crawler.core.jobs import JobSpec
from crawler.core.records import Artifacts, Payload, needs_prowjob, started_pull
from crawler.logilica.payload import commit, conclusion, resolve_repo, to_payload
from tests.unit.factories import (
    BUCKET,
    HEAD_SHA,
    OPENSHIFT_DECK,
    ORIGIN,
    SHA,
    T0,
    T1,
    TRIGGER,
    build_ref,
    finished_json,
    job_spec,
    json_values,
    payload_for,
    pr_build_path,
    started_json,
)

PERIODIC_JOB = "periodic-ci-codeready-toolchain-toolchain-e2e-master-ci-daily"
PRESUBMIT_JOB = "pull-ci-codeready-toolchain-toolchain-e2e-master-e2e"
BUILD_ID = "1950119109857382400"
STARTED = "2025-07-30T07:40:34Z"  # as the builds' deck page shows it
PULL = PullRef(
    number=1234,
    author="octocat",
    sha=HEAD_SHA,
    link="https://github.com/codeready-toolchain/toolchain-e2e/pull/1234",
)


def periodic_job(repo: str | None = None) -> JobSpec:
    """The periodic job on OpenShift's deck (`repo:` configured if given)."""
    return job_spec(PERIODIC_JOB, deck=OPENSHIFT_DECK, repo=repo)


def presubmit_job(repo: str | None = None) -> JobSpec:
    """The presubmit job on OpenShift's deck (`repo:` configured if given)."""
    return job_spec(PRESUBMIT_JOB, presubmit=True, deck=OPENSHIFT_DECK, repo=repo)


def periodic_build(**kw: Any) -> BuildRef:
    """BUILD_ID of the periodic job as its page lists it (SUCCESS); `kw`: more fields."""
    return build_ref(BUILD_ID, job=PERIODIC_JOB, started=STARTED, **kw)


def presubmit_build(pull: PullRef | None = PULL) -> BuildRef:
    """BUILD_ID of the presubmit job, failed, for `pull` of codeready-toolchain/toolchain-e2e."""
    path = pr_build_path("codeready-toolchain_toolchain-e2e", 1234, PRESUBMIT_JOB, BUILD_ID)
    return build_ref(
        BUILD_ID,
        path=path,
        result="FAILURE",
        started=STARTED,
        org="codeready-toolchain",
        repo="toolchain-e2e",
        pull=pull,
    )


def started(**fields: Any) -> dict[str, Any]:
    """started_json with a field the mapping does not read (node), as Prow writes it."""
    return started_json(node="x", **fields)


# -- periodic builds ------------------------------------------------------------------------------


def test_periodic_payload_with_repo_from_finished_metadata() -> None:
    art = Artifacts(
        started=started(),
        finished=finished_json(
            metadata={"repo": "codeready-toolchain/toolchain-e2e", "revision": 3}
        ),
    )
    build = periodic_build()
    assert not needs_prowjob(periodic_job(), build, art.finished)
    payload = payload_for(periodic_job(), build, art)
    url = f"{OPENSHIFT_DECK}/view/gs/{BUCKET}/logs/{PERIODIC_JOB}/{BUILD_ID}"
    step = {
        "name": PERIODIC_JOB,
        "startedAt": T0,
        "completedAt": T1,
        "status": "Completed",
        "conclusion": "Success",
    }
    assert payload == Payload(
        repo="codeready-toolchain/toolchain-e2e",
        body={
            "origin": ORIGIN,
            "originalID": BUILD_ID,
            "name": PERIODIC_JOB,
            "url": url,
            "startedAt": T0,
            "createdAt": T0,
            "completedAt": T1,
            "triggeredBy": {
                "name": "OpenShift CI",
                "email": "ci@example.com",
                "accountId": "openshift-ci",
                "lastActivity": T0,
            },
            "status": "Completed",
            "conclusion": "Success",
            "repoUrl": "https://github.com/codeready-toolchain/toolchain-e2e",
            "commit": SHA,
            "pullRequestUrls": [],
            "isDeployment": False,
            "stages": [{**step, "id": BUILD_ID, "url": url, "jobs": [step]}],
        },
    )


def test_periodic_repo_from_prowjob_extra_refs_when_metadata_is_absent() -> None:
    build = periodic_build()
    fin = finished_json()
    assert needs_prowjob(periodic_job(), build, fin)
    prowjob = {
        "spec": {
            "type": "periodic",
            "job": PERIODIC_JOB,
            "extra_refs": [
                {"org": "openshift", "repo": "release", "base_ref": "master"},
                {"org": "other", "repo": "second"},
            ],
        }
    }
    payload = payload_for(periodic_job(), build, Artifacts(started(), fin, prowjob))
    assert payload.repo == "openshift/release"
    assert payload.body["repoUrl"] == "https://github.com/openshift/release"
    assert payload.body["pullRequestUrls"] == []
    assert payload.body["triggeredBy"]["name"] == "OpenShift CI"


def test_page_refs_give_the_repo_without_prowjob() -> None:
    build = periodic_build(org="openshift", repo="origin")
    assert not needs_prowjob(periodic_job(), build, finished_json())
    assert resolve_repo(periodic_job(), build, Artifacts(started(), finished_json())) == (
        "openshift/origin"
    )


def test_finished_metadata_wins_over_page_refs_and_extra_refs() -> None:
    build = periodic_build(org="page", repo="refs")
    prowjob = {"spec": {"extra_refs": [{"org": "extra", "repo": "refs"}]}}
    art = Artifacts(started(), finished_json(metadata={"repo": "meta/repo"}), prowjob)
    assert resolve_repo(periodic_job(), build, art) == "meta/repo"


def test_job_repo_overrides_every_other_source() -> None:
    job = periodic_job(repo="configured/repo")
    build = periodic_build(org="page", repo="refs")
    art = Artifacts(
        started(),
        finished_json(metadata={"repo": "meta/repo"}),
        {"spec": {"extra_refs": [{"org": "extra", "repo": "refs"}]}},
    )
    assert not needs_prowjob(job, build, art.finished)
    assert (
        to_payload(
            job, build, art, deck_base=OPENSHIFT_DECK, triggered_by=TRIGGER, origin=ORIGIN
        ).repo
        == "configured/repo"
    )


@pytest.mark.parametrize(
    "prowjob",
    [
        None,
        {},
        {"spec": None},
        {"spec": {"extra_refs": []}},
        {"spec": {"extra_refs": ["openshift/release"]}},
        {"spec": {"extra_refs": [{"org": "openshift"}]}},
        {"spec": {"extra_refs": [{"org": " ", "repo": "release"}]}},
        {"spec": {"extra_refs": {"org": "openshift", "repo": "release"}}},
    ],
)
def test_missing_repo_is_a_build_error_mentioning_repo(prowjob: Any) -> None:
    art = Artifacts(started(), finished_json(metadata={"repo": ""}), prowjob)
    with pytest.raises(BuildError, match="repo") as info:
        payload_for(periodic_job(), periodic_build(), art)
    assert "jobs.yaml" in str(info.value)
    assert info.value.permanent


@pytest.mark.parametrize("repo", ["justone", "a/b/c", "a b/c", "https://github.com/a/b", "/b"])
def test_malformed_repo_is_a_build_error(repo: str) -> None:
    art = Artifacts(started(), finished_json(metadata={"repo": repo}))
    with pytest.raises(BuildError, match="not ORG/NAME"):
        payload_for(periodic_job(), periodic_build(), art)


# -- presubmit builds -----------------------------------------------------------------------------


def test_presubmit_payload_uses_pr_author_link_and_head_sha() -> None:
    art = Artifacts(
        started(**{"repo-commit": "master", "pull": "1234"}),
        finished_json(result="failure", revision="master"),
    )
    job = presubmit_job()
    build = presubmit_build()
    assert not needs_prowjob(job, build, art.finished)
    payload = payload_for(job, build, art)
    b = payload.body
    assert payload.repo == "codeready-toolchain/toolchain-e2e"
    assert b["triggeredBy"] == {
        "name": "octocat",
        "email": "",
        "accountId": "octocat",
        "lastActivity": T0,
    }
    assert b["pullRequestUrls"] == [PULL.link]
    # repo-commit is a branch name: the PR head SHA is the commit tested.
    assert b["commit"] == HEAD_SHA
    assert b["conclusion"] == "Failure"
    assert b["stages"][0]["conclusion"] == "Failure"
    assert b["stages"][0]["jobs"][0]["conclusion"] == "Failure"
    assert b["url"] == f"{OPENSHIFT_DECK}/view/gs/{BUCKET}/{build.path}"


def test_presubmit_pull_from_prowjob_when_the_page_had_none() -> None:
    job = presubmit_job(repo="codeready-toolchain/toolchain-e2e")
    build = presubmit_build(pull=None)
    fin = finished_json()
    assert needs_prowjob(job, build, fin)
    prowjob = {
        "spec": {
            "type": "presubmit",
            "refs": {
                "org": "codeready-toolchain",
                "repo": "toolchain-e2e",
                "pulls": [{"number": 77, "author": "dev", "sha": HEAD_SHA}],
            },
        }
    }
    b = payload_for(job, build, Artifacts(started(**{"repo-commit": ""}), fin, prowjob)).body
    assert b["triggeredBy"]["accountId"] == "dev"
    # No link in the refs: the GitHub PR URL is built from the repo and number.
    assert b["pullRequestUrls"] == ["https://github.com/codeready-toolchain/toolchain-e2e/pull/77"]
    assert b["commit"] == HEAD_SHA


@pytest.mark.parametrize("link", ["", "http://github.com/x/y/pull/1", "javascript:alert(1)"])
def test_non_https_pr_link_is_replaced_by_the_github_url(link: str) -> None:
    pull = PullRef(number=9, author="dev", sha=HEAD_SHA, link=link)
    b = payload_for(
        presubmit_job(), presubmit_build(pull), Artifacts(started(), finished_json())
    ).body
    assert b["pullRequestUrls"] == ["https://github.com/codeready-toolchain/toolchain-e2e/pull/9"]


def test_pr_without_author_is_triggered_by_the_configured_account() -> None:
    pull = PullRef(number=9, author="", sha=HEAD_SHA, link="")
    b = payload_for(
        presubmit_job(), presubmit_build(pull), Artifacts(started(), finished_json())
    ).body
    assert b["triggeredBy"]["accountId"] == "openshift-ci"
    assert b["pullRequestUrls"] == ["https://github.com/codeready-toolchain/toolchain-e2e/pull/9"]


@pytest.mark.parametrize(
    "prowjob",
    [None, {"spec": {"refs": {"pulls": []}}}, {"spec": {"refs": {"pulls": [{"number": "5"}]}}}],
)
def test_presubmit_without_any_pull_has_no_pr_urls(prowjob: Any) -> None:
    job = presubmit_job(repo="a/b")
    b = payload_for(
        job, presubmit_build(pull=None), Artifacts(started(), finished_json(), prowjob)
    ).body
    assert b["pullRequestUrls"] == []
    assert b["triggeredBy"]["name"] == TRIGGER.name


def test_needs_prowjob_only_for_gaps() -> None:
    assert not needs_prowjob(presubmit_job(), presubmit_build(), finished_json())
    # A presubmit whose page entry has no pull needs the prowjob for the PR, repo or not.
    assert needs_prowjob(presubmit_job(repo="a/b"), presubmit_build(pull=None), finished_json())
    assert not needs_prowjob(periodic_job(repo="a/b"), periodic_build(), finished_json())
    assert needs_prowjob(periodic_job(), periodic_build(), finished_json(metadata={"repo": " "}))
    assert needs_prowjob(periodic_job(), periodic_build(), finished_json(metadata="x"))


# -- conclusion -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fin", "expected"),
    [
        ({"result": "SUCCESS"}, "Success"),
        ({"result": "success"}, "Success"),
        ({"result": "FAILURE"}, "Failure"),
        ({"result": "failure"}, "Failure"),
        ({"result": " failure\n"}, "Failure"),
        ({"result": "ABORTED"}, "Cancelled"),
        ({"result": "aborted"}, "Cancelled"),
        ({"result": "ERROR"}, "Failure"),
        ({"result": "error"}, "Failure"),
        # result wins over passed
        ({"result": "failure", "passed": True}, "Failure"),
        # no (usable) result: fall back to passed
        ({"passed": True}, "Success"),
        ({"passed": False}, "Failure"),
        ({"result": "", "passed": True}, "Success"),
        ({"result": None, "passed": False}, "Failure"),
        ({"result": 1, "passed": True}, "Success"),
    ],
)
def test_conclusion(fin: dict[str, Any], expected: str) -> None:
    assert conclusion(fin) == expected


@pytest.mark.parametrize(
    ("fin", "phrase"),
    [
        ({"result": "PENDING"}, "not one Logilica knows"),
        ({"result": "flaky", "passed": True}, "not one Logilica knows"),
        ({"result": "UNKNOWN"}, "not one Logilica knows"),
        ({}, "neither 'result' nor 'passed'"),
        ({"passed": None}, "neither 'result' nor 'passed'"),
        ({"passed": "true"}, "neither 'result' nor 'passed'"),
        ({"passed": 1}, "neither 'result' nor 'passed'"),
    ],
)
def test_unknown_conclusion_is_a_build_error(fin: dict[str, Any], phrase: str) -> None:
    with pytest.raises(BuildError, match=phrase):
        conclusion(fin)


def test_unknown_result_fails_the_payload() -> None:
    art = Artifacts(started(), finished_json(result="skipped", metadata={"repo": "a/b"}))
    with pytest.raises(BuildError, match="skipped"):
        payload_for(periodic_job(), periodic_build(), art)


# -- commit ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("st_", "fin", "pull", "expected"),
    [
        ({"repo-commit": SHA}, {"revision": HEAD_SHA}, PULL, SHA),
        ({"repo-commit": "master"}, {"revision": SHA}, PULL, HEAD_SHA),
        ({"repo-commit": "master"}, {"revision": SHA}, None, SHA),
        ({"repo-commit": "master"}, {"revision": "main"}, None, "master"),
        ({}, {"revision": "main"}, None, "main"),
        ({"repo-commit": "  "}, {"revision": SHA}, None, SHA),
        ({"repo-commit": "abc1234"}, {}, None, "abc1234"),
        # Upper-case hex is not what git prints: treated like a ref name.
        ({"repo-commit": SHA.upper()}, {"revision": SHA}, None, SHA),
        ({"repo-commit": 5}, {"revision": "v1"}, None, "v1"),
    ],
)
def test_commit_prefers_a_real_sha(
    st_: dict[str, Any], fin: dict[str, Any], pull: PullRef | None, expected: str
) -> None:
    assert commit(st_, fin, pull) == expected


def test_no_commit_is_a_build_error() -> None:
    with pytest.raises(BuildError, match="no commit"):
        commit({"repo-commit": ""}, {"revision": None}, PullRef(1, "a", "", ""))


# -- timestamps -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "phrase"),
    [
        (None, T1, "started.json has no numeric 'timestamp'"),
        ("1753861234", T1, "started.json has no numeric 'timestamp'"),
        (True, T1, "started.json has no numeric 'timestamp'"),
        (T0, None, "finished.json has no numeric 'timestamp'"),
        (0, T1, "not a plausible time"),
        (-T0, T1, "not a plausible time"),
        (T0 * 1000, T1, "not a plausible time"),  # milliseconds, not seconds
        (T0, 5_000_000_000, "not a plausible time"),
        (T0, T0 - 301, "is before started.json"),
        (math.nan, T1, "started.json"),
        (T0, math.inf, "finished.json"),
        (-math.inf, T1, "started.json"),
    ],
)
def test_implausible_timestamps_are_build_errors(start: Any, end: Any, phrase: str) -> None:
    st_ = started()
    fin = finished_json(metadata={"repo": "a/b"})
    if start is None:
        del st_["timestamp"]
    else:
        st_["timestamp"] = start
    if end is None:
        del fin["timestamp"]
    else:
        fin["timestamp"] = end
    with pytest.raises(BuildError, match=phrase):
        payload_for(periodic_job(), periodic_build(), Artifacts(st_, fin))


def test_small_clock_skew_is_clamped() -> None:
    art = Artifacts(started(), finished_json(timestamp=T0 - 300, metadata={"repo": "a/b"}))
    b = payload_for(periodic_job(repo="o/r"), periodic_build(), art).body
    assert b["startedAt"] == b["completedAt"] == T0


def test_float_timestamps_become_ints() -> None:
    art = Artifacts(
        started(timestamp=T0 + 0.9), finished_json(timestamp=T1 + 0.2, metadata={"repo": "a/b"})
    )
    b = payload_for(periodic_job(repo="o/r"), periodic_build(), art).body
    assert (b["startedAt"], b["completedAt"]) == (T0, T1)
    assert isinstance(b["startedAt"], int) and isinstance(b["completedAt"], int)


# -- property -------------------------------------------------------------------------------------

_json = json_values(int_bound=2**80, finite=False, max_text=12, max_key=8, max_leaves=6)
_timestamps = st.one_of(
    st.integers(1_400_000_000, 4_102_444_800),
    st.floats(1.3e9, 4.2e9),
    st.sampled_from([math.nan, math.inf, -math.inf, 2**70, "1753861234"]),
    _json,
)
_shas = st.one_of(st.just(SHA), st.just("master"), st.text(max_size=10), _json)


def _dict_with(known: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with any of the `known` keys (drawn from their strategies) and a few others."""
    return st.builds(
        lambda fixed, extra: {**extra, **fixed},
        st.fixed_dictionaries({}, optional=known),
        st.dictionaries(st.text(max_size=8), _json, max_size=3),
    )


_started = _dict_with({"timestamp": _timestamps, "repo-commit": _shas, "pull": _json})
_finished = _dict_with(
    {
        "timestamp": _timestamps,
        "result": st.one_of(
            st.sampled_from(["SUCCESS", "failure", "aborted", "error", "PENDING", ""]), _json
        ),
        "passed": _json,
        "revision": _shas,
        "metadata": st.one_of(
            st.fixed_dictionaries({}, optional={"repo": st.one_of(st.just("o/r"), _json)}),
            _json,
        ),
    }
)
_prowjob = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "spec": st.one_of(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "extra_refs": st.one_of(
                            st.lists(
                                st.fixed_dictionaries(
                                    {},
                                    optional={
                                        "org": _json | st.just("o"),
                                        "repo": _json | st.just("r"),
                                    },
                                ),
                                max_size=2,
                            ),
                            _json,
                        ),
                        "refs": _json,
                    },
                ),
                _json,
            )
        },
    ),
)
_pulls = st.one_of(
    st.none(),
    st.builds(
        PullRef,
        number=st.integers(1, 10**6),
        author=st.text(max_size=8),
        sha=st.one_of(st.just(HEAD_SHA), st.text(max_size=8)),
        link=st.one_of(st.just("https://github.com/o/r/pull/1"), st.text(max_size=8)),
    ),
)


@settings(max_examples=400, deadline=None)
@given(
    st_=_started,
    fin=_finished,
    prowjob=_prowjob,
    presubmit=st.booleans(),
    job_repo=st.sampled_from([None, "cfg/repo"]),
    pull=_pulls,
)
def test_to_payload_property(
    st_: dict[str, Any],
    fin: dict[str, Any],
    prowjob: dict[str, Any] | None,
    presubmit: bool,
    job_repo: str | None,
    pull: PullRef | None,
) -> None:
    job = presubmit_job(job_repo) if presubmit else periodic_job(job_repo)
    build = presubmit_build(pull) if presubmit else periodic_build(pull=pull)
    try:
        payload = payload_for(job, build, Artifacts(st_, fin, prowjob))
    except BuildError:
        return
    b = payload.body
    for key in ("startedAt", "createdAt", "completedAt"):
        assert type(b[key]) is int
        assert 1_400_000_000 <= b[key] <= 4_102_444_800
    assert b["startedAt"] <= b["completedAt"]
    assert b["conclusion"] in {"Success", "Failure", "Cancelled"}
    assert b["stages"][0]["conclusion"] == b["conclusion"]
    assert b["repoUrl"] == f"https://github.com/{payload.repo}"
    assert isinstance(b["commit"], str) and b["commit"]
    assert all(u.startswith("https://") for u in b["pullRequestUrls"])
    assert b["originalID"] == BUILD_ID
    if job_repo:
        assert payload.repo == job_repo


# -- presubmits whose page and prowjob.json name no pull: started.json ----------------------------


def _bare_presubmit() -> BuildRef:
    """Found with no Refs on the page (older builds, other Prow instances)."""
    return replace(presubmit_build(pull=None), org=None, repo=None)


def test_pull_from_started_json_when_page_and_prowjob_have_none() -> None:
    art = Artifacts(
        started(
            pull="1234",
            repos={"codeready-toolchain/toolchain-e2e": f"master:{SHA},1234:{HEAD_SHA}"},
            **{"repo-commit": ""},
        ),
        finished_json(),
        prowjob=None,  # 404: not stored for this build
    )
    assert needs_prowjob(presubmit_job(), _bare_presubmit(), art.finished)
    payload = payload_for(presubmit_job(), _bare_presubmit(), art)
    b = payload.body
    assert payload.repo == "codeready-toolchain/toolchain-e2e"  # from started.json repos
    assert b["pullRequestUrls"] == [
        "https://github.com/codeready-toolchain/toolchain-e2e/pull/1234"
    ]
    assert b["commit"] == HEAD_SHA  # the PR head, not the base
    assert b["triggeredBy"]["name"] == TRIGGER.name  # no author is known


def test_earlier_sources_win_over_started_json() -> None:
    art = Artifacts(
        started(pull="99", repos={"other/repo": "master:aa,99:bb"}),
        finished_json(metadata={"repo": "meta/repo"}),
        prowjob={
            "spec": {"refs": {"org": "o", "repo": "r", "pulls": [{"number": 5, "author": "a"}]}}
        },
    )
    payload = payload_for(presubmit_job(), _bare_presubmit(), art)
    assert payload.repo == "meta/repo"
    assert payload.body["pullRequestUrls"] == ["https://github.com/meta/repo/pull/5"]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"pull": "7", "repos": {"o/r": "main:a,7:b"}}, ("o/r", 7, "b")),
        ({"pull": 7, "repos": {"o/r": "main:a,7:b", "x/y": "main:c"}}, ("o/r", 7, "b")),
        ({"pull": "7", "repos": {"o/r": "main:a,8:b"}}, (None, 7, "")),
        ({"pull": "7"}, (None, 7, "")),
        ({"pull": "0", "repos": {"o/r": "main:a,0:b"}}, None),
        ({"pull": "-7"}, None),
        ({"pull": "seven"}, None),
        ({"pull": True}, None),
        ({"pull": "\u0667"}, None),
        ({"repos": {"o/r": "main:a,7:b"}}, None),
        ({"pull": "7", "repos": ["o/r"]}, (None, 7, "")),
        ({"pull": "7", "repos": {"o/r": 5}}, (None, 7, "")),
    ],
)
def test_started_pull_is_read_leniently(doc: dict[str, Any], expected: Any) -> None:
    found = started_pull(doc)
    if expected is None:
        assert found is None
    else:
        repo, pull = found
        assert (repo, pull.number, pull.sha) == expected


def test_periodic_repo_from_the_only_entry_of_started_json_repos() -> None:
    art = Artifacts({"timestamp": T0, "repos": {"o/r": "master"}}, finished_json(revision=SHA))
    assert payload_for(periodic_job(), periodic_build(), art).repo == "o/r"
    art = Artifacts(
        {"timestamp": T0, "repos": {"o/r": "m", "x/y": "m"}}, finished_json(revision=SHA)
    )
    with pytest.raises(BuildError, match=r"started\.json repos"):
        payload_for(periodic_job(), periodic_build(), art)


# -- stages: ci-operator's steps, or the build as one stage ---------------------------------------

STEP_GRAPH = [
    {"name": "src", "started_at": "2025-07-30T07:41:00Z", "finished_at": "2025-07-30T07:45:00Z"},
    {
        "name": "e2e",
        "started_at": "2025-07-30T07:50:00Z",
        "finished_at": "2025-07-30T08:40:00Z",
        "failed": True,
        "substeps": [
            {
                "name": "e2e-openshift-e2e-test",
                "started_at": "2025-07-30T08:00:00Z",
                "finished_at": "2025-07-30T08:30:00Z",
                "failed": True,
            }
        ],
    },
    {"name": "[promotion]", "started_at": None, "finished_at": None},
]


def test_step_graph_gives_one_stage_per_step_that_ran() -> None:
    art = Artifacts(started(), finished_json(result="FAILURE"), step_graph=STEP_GRAPH)
    body = payload_for(periodic_job(repo="o/r"), periodic_build(), art).body
    url = body["url"]
    assert body["conclusion"] == "Failure"  # finished.json's, as without a graph
    assert body["stages"] == [
        {
            "name": "src",
            "id": f"{BUILD_ID}:src",
            "url": url,
            "startedAt": 1753861260,
            "completedAt": 1753861500,
            "status": "Completed",
            "conclusion": "Success",
            "jobs": [
                {
                    "name": "src",
                    "startedAt": 1753861260,
                    "completedAt": 1753861500,
                    "status": "Completed",
                    "conclusion": "Success",
                }
            ],
        },
        {
            "name": "e2e",
            "id": f"{BUILD_ID}:e2e",
            "url": url,
            "startedAt": 1753861800,
            "completedAt": 1753864800,
            "status": "Completed",
            "conclusion": "Failure",
            "jobs": [
                {
                    "name": "e2e-openshift-e2e-test",
                    "startedAt": 1753862400,
                    "completedAt": 1753864200,
                    "status": "Completed",
                    "conclusion": "Failure",
                }
            ],
        },
    ]


@pytest.mark.parametrize("graph", [None, [], [{"name": "x", "started_at": None}], {"a": 1}])
def test_without_a_usable_graph_the_build_is_its_own_single_stage(graph: Any) -> None:
    with_graph = payload_for(
        periodic_job(repo="o/r"),
        periodic_build(),
        Artifacts(started(), finished_json(), step_graph=graph),
    )
    without = payload_for(
        periodic_job(repo="o/r"), periodic_build(), Artifacts(started(), finished_json())
    )
    assert with_graph == without
    [stage] = without.body["stages"]
    assert stage["id"] == BUILD_ID and stage["name"] == without.body["name"]
    assert stage["jobs"] == [
        {k: stage[k] for k in ("name", "startedAt", "completedAt", "status", "conclusion")}
    ]
