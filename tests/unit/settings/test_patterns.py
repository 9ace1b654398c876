"""crawler.settings.patterns and crawler.settings.matchcheck: `match:` rules, their syntax
checks (file and line in every message), the deck base URL, and the expansion against the
feed and the jobs remembered from earlier runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from crawler.core.builds import parse_job_url
from crawler.core.errors import ConfigError
from crawler.core.matching import DEFAULT_PROW, MatchItem, MatchRule, repo_of
from crawler.settings.matchcheck import parse_match, parse_match_item, parse_prow_base
from crawler.settings.patterns import default_prow_base, expand, history_url, newest_builds
from crawler.settings.yamlcheck import Checker

PROW = "https://prow.example.test"
BUCKET = "test-platform-results"
PERIODIC = "periodic-ci-openshift-release-master-nightly-4.21-e2e-aws"
PULL = "pull-ci-openshift-origin-main-e2e-aws"


@dataclass(frozen=True)
class Build:
    """The fields of a feed build that matching reads (FeedBuild's, with org_repo)."""

    job: str
    type: str = "periodic"
    bucket: str = BUCKET
    path: str = ""
    org_repo: str | None = None


@dataclass(frozen=True)
class RefsBuild:
    """A build naming its repository as org and repo (as crawler.prow.feed_items.FeedBuild does)."""

    job: str
    type: str
    bucket: str
    org: str | None
    repo: str | None


def rule(text: str = "", **kw: Any) -> MatchRule:
    return MatchRule(text=text or repr(kw), **kw)


def feed(*builds: Build) -> dict[str, Build]:
    return {b.job: b for b in builds}


def items(*rules: MatchRule) -> list[MatchItem[str]]:
    return [MatchItem(r, f"settings-{i}") for i, r in enumerate(rules)]


def url(job: str, kind: str = "logs", base: str = PROW, bucket: str = BUCKET) -> str:
    return f"{base}/job-history/gs/{bucket}/{kind}/{job}"


# -- MatchRule.matches ------------------------------------------------------------------------


def test_a_glob_matches_job_names_case_sensitively() -> None:
    r = rule(job="periodic-ci-*-nightly-4.21-*")
    assert r.matches(Build(PERIODIC))
    assert not r.matches(Build("periodic-ci-openshift-release-master-nightly-4.20-e2e"))
    assert not r.matches(Build(PERIODIC.upper()))


@pytest.mark.parametrize(
    ("kw", "build", "expected"),
    [
        ({"type": "presubmit"}, Build(PULL, "presubmit"), True),
        ({"type": "presubmit"}, Build(PULL, "batch"), False),
        ({"repo": "openshift/origin"}, Build(PULL, org_repo="openshift/origin"), True),
        ({"repo": "openshift/origin"}, Build(PULL, org_repo="openshift/installer"), False),
        ({"repo": "openshift/origin"}, Build(PULL), False),
        ({"job": "pull-ci-*"}, Build(PULL), True),
    ],
)
def test_each_mapping_key_on_its_own(kw: dict[str, str], build: Build, expected: bool) -> None:
    assert rule(**kw).matches(build) is expected


def test_every_given_key_must_hold() -> None:
    r = rule(job="pull-ci-openshift-origin-*", type="presubmit", repo="openshift/origin")
    good = Build(PULL, "presubmit", org_repo="openshift/origin")
    assert r.matches(good)
    assert not r.matches(Build(PULL, "postsubmit", org_repo="openshift/origin"))
    assert not r.matches(Build(PULL, "presubmit", org_repo="openshift/other"))
    assert not r.matches(Build("pull-ci-openshift-installer-e2e", "presubmit", org_repo="o/r"))


def test_exclude_takes_jobs_out() -> None:
    r = rule(job="pull-ci-*", excludes=("*-rehearse-*", "*-skip"))
    assert r.matches(Build(PULL))
    assert not r.matches(Build("pull-ci-openshift-release-rehearse-123-e2e"))
    assert not r.matches(Build("pull-ci-x-skip"))


def test_repo_is_spec_refs_else_the_first_extra_refs() -> None:
    """From the feed's raw items: refs win over extra_refs; a periodic has extra_refs only."""
    feed_items = pytest.importorskip("crawler.prow.feed_items")

    def item(job: str, kind: str, **spec: Any) -> Any:
        status = {
            "state": "success",
            "startTime": "2026-01-01T00:00:00Z",
            "completionTime": "2026-01-01T01:00:00Z",
            "build_id": "123",
            "url": f"https://prow.test/view/gs/{BUCKET}/logs/{job}/123",
        }
        return feed_items.item_to_build(
            {"spec": {"job": job, "type": kind, **spec}, "status": status}
        )

    first, second = {"org": "openshift", "repo": "origin"}, {"org": "openshift", "repo": "api"}
    with_refs = item("post-job", "postsubmit", refs=first, extra_refs=[second])
    periodic = item("periodic-job", "periodic", extra_refs=[second, first])
    assert repo_of(with_refs) == "openshift/origin"
    assert repo_of(periodic) == "openshift/api"
    assert rule(repo="openshift/api").matches(periodic)
    assert not rule(repo="openshift/api").matches(with_refs)


def test_repo_of_reads_org_and_repo_or_org_repo() -> None:
    assert repo_of(RefsBuild("j", "periodic", BUCKET, "openshift", "origin")) == "openshift/origin"
    assert repo_of(RefsBuild("j", "periodic", BUCKET, None, None)) is None
    assert repo_of(Build("j", org_repo="a/b")) == "a/b"


def test_the_key_is_the_same_however_the_rule_is_written() -> None:
    a = parse_match("periodic-*", path="f", line=1, exclude=["b", "a", "b"])
    b = parse_match({"job": "periodic-*"}, path="f", line=1, exclude=["a", "b"])
    assert a.key == b.key == "job=periodic-* exclude=a,b"
    assert a.describe() == 'match "periodic-*"'
    c = parse_match({"type": "presubmit", "repo": "o/r"}, path="f", line=1)
    assert c.key == "type=presubmit repo=o/r"
    assert c.describe() == "match {type: presubmit, repo: o/r}"


# -- history URLs and the deck base -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "prefix"),
    [
        ("periodic", "logs"),
        ("postsubmit", "logs"),
        ("presubmit", "pr-logs/directory"),
        ("batch", "pr-logs/directory"),
    ],
)
def test_history_url(kind: str, prefix: str) -> None:
    got = history_url(PROW + "/", "job-a", kind, "bkt")
    assert got == f"{PROW}/job-history/gs/bkt/{prefix}/job-a"
    assert parse_job_url(got).presubmit is (prefix != "logs")


def test_default_prow_is_the_url_jobs_shared_host_else_openshift() -> None:
    assert default_prow_base([]) == DEFAULT_PROW
    assert default_prow_base([parse_job_url(url("a")), url("b")]) == PROW
    other = url("c", base="http://deck.test:8080")
    assert default_prow_base([url("a"), other]) == DEFAULT_PROW
    assert default_prow_base([other]) == "http://deck.test:8080"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://prow.ci.openshift.org", "https://prow.ci.openshift.org"),
        ("https://prow.ci.openshift.org/", "https://prow.ci.openshift.org"),
        ("  http://deck.test:8080 ", "http://deck.test:8080"),
        ("HTTP://deck.test", "http://deck.test"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_prow_base(text: str, expected: str) -> None:
    assert parse_prow_base(text, path="jobs.yaml", line=1) == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("prow.ci.openshift.org", "not an http(s) URL"),
        ("ftp://deck.test", "not an http(s) URL"),
        ("https://", "not an http(s) URL"),
        ("https://deck.test/job-history", "has a path"),
        ("https://deck.test?x=1", "has a path"),
        ("https://user:pw@deck.test", "user name or password"),
        ("http://deck.test:99999", "bad host or port"),
        ("http://deck.test:port", "bad host or port"),
        ("http://[::1", "bad host or port"),
        ("http://deck test", "bad host or port"),
        (42, "not an http(s) URL"),
        ("", "not an http(s) URL"),
    ],
)
def test_bad_prow_base(value: object, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_prow_base(value, path="jobs.yaml", line=3)
    assert str(err.value).startswith("jobs.yaml:3: prow ")
    assert problem in str(err.value) and "e.g. https://prow.ci.openshift.org" in str(err.value)


# -- the syntax, from YAML text (file and line in every error) --------------------------------


def match_item(yaml_text: str, index: int = 0) -> MatchRule:
    check = Checker("jobs.yaml")
    jobs = check.load(yaml_text)["jobs"]
    return parse_match_item(
        jobs[index], path="jobs.yaml", where=f"jobs[{index}]", line=jobs.item_lines[index]
    )


def test_the_issue_example_parses() -> None:
    text = """\
prow: https://prow.ci.openshift.org
jobs:
  - match: "periodic-ci-openshift-release-master-nightly-4.21-*"
  - match: {job: "pull-ci-openshift-origin-*", type: presubmit, repo: openshift/origin}
    exclude: ["*-rehearse-*"]
    since: 30d
    repo: openshift/logilica-name
"""
    first = match_item(text, 0)
    assert first == MatchRule(
        job="periodic-ci-openshift-release-master-nightly-4.21-*",
        text='"periodic-ci-openshift-release-master-nightly-4.21-*"',
    )
    second = match_item(text, 1)
    assert (second.job, second.type, second.repo) == (
        "pull-ci-openshift-origin-*",
        "presubmit",
        "openshift/origin",
    )
    assert second.excludes == ("*-rehearse-*",)


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ('  - match: ""', 2, ["jobs[0].match is empty", "glob over job names"]),
        ("  - match:", 2, ["jobs[0].match is empty"]),
        ("  - match: 4.21", 2, ["jobs[0].match must be a glob", "mapping with job, type, repo"]),
        ("  - match: [a, b]", 2, ["jobs[0].match must be a glob"]),
        ("  - match: {}", 2, ["jobs[0].match needs at least one of job, type, repo"]),
        ("  - match:\n      job: 5", 3, ["jobs[0].match.job must be a glob"]),
        ("  - match:\n      job: '  '", 3, ["jobs[0].match.job is empty"]),
        ("  - match:\n      type: presubmit\n      kind: x", 4, ["unknown key 'kind'"]),
        (
            "  - match:\n      job: a\n      exclude: [b]",
            4,
            ["unknown key 'exclude' in jobs[0].match", "goes beside 'match'"],
        ),
        ("  - match:\n      type: nightly", 3, ["'nightly' is not one of periodic, postsubmit"]),
        ("  - match:\n      type: 3", 3, ["jobs[0].match.type 3 is not one of"]),
        ("  - match:\n      repo: origin", 3, ["'origin' is not ORG/NAME", "item's own 'repo:'"]),
        ("  - match:\n      repo: [a/b]", 3, ["is not ORG/NAME"]),
        (
            "  - match: https://prow.test/job-history/gs/b/logs/j",
            2,
            ["can never match a job name", "use 'url:' instead"],
        ),
        ('  - match: "periodic ci"', 2, ["can never match a job name"]),
        ('  - match: "periodic-[ab"', 2, ["unbalanced '['"]),
        ('  - match: "a"\n    exclude: "*-x"', 3, ["jobs[0].exclude must be a list of globs"]),
        ('  - match: "a"\n    exclude:\n      - b\n      - ""', 5, ["jobs[0].exclude[1] is empty"]),
        ('  - match: "a"\n    exclude: [3]', 3, ["jobs[0].exclude[0] must be a glob"]),
        (
            '  - match: "a"\n    url: https://prow.test/job-history/gs/b/logs/j',
            3,
            ["has both 'url' (one job) and 'match'", "split it into two items"],
        ),
        ('  - match: "a"\n    name: b', 3, ["'name' renames one job", "remove it"]),
        ('  - match: "a"\n    limits: 3', 3, ["unknown key 'limits' in jobs[0] (allowed: "]),
    ],
)
def test_syntax_errors_name_file_line_and_what_to_do(
    body: str, line: int, words: list[str]
) -> None:
    with pytest.raises(ConfigError) as err:
        match_item(f"jobs:\n{body}\n")
    message = str(err.value)
    assert message.startswith(f"jobs.yaml:{line}: "), message
    assert (err.value.path, err.value.line) == ("jobs.yaml", line)
    for word in words:
        assert word in message, message


def test_parse_match_without_yaml_lines_uses_the_given_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse_match({"type": "x"}, path="f.yaml", line=7)
    assert str(err.value).startswith("f.yaml:7: match.type 'x' is not one of")


# -- expand -----------------------------------------------------------------------------------


def test_expand_takes_the_feed_jobs_that_match_with_their_settings() -> None:
    builds = feed(Build(PERIODIC), Build(PULL, "presubmit", "origin-ci"), Build("other"))
    got = expand(items(rule(job="p*")), [], builds, {}, prow=PROW)
    assert [(j.name, j.url.url, j.settings, j.from_feed) for j in got.jobs] == [
        (PERIODIC, url(PERIODIC), "settings-0", True),
        (PULL, url(PULL, "pr-logs/directory", bucket="origin-ci"), "settings-0", True),
    ]
    assert got.unmatched == () and got.messages == []
    assert got.remembered == {
        "job=p*": {
            PERIODIC: url(PERIODIC),
            PULL: url(PULL, "pr-logs/directory", bucket="origin-ci"),
        }
    }


def test_an_explicit_url_job_wins_yet_the_rule_matched() -> None:
    got = expand(items(rule(job="p*")), [PERIODIC], feed(Build(PERIODIC)), {}, prow=PROW)
    assert got.jobs == () and got.unmatched == ()
    assert got.remembered == {"job=p*": {PERIODIC: url(PERIODIC)}}


def test_the_first_match_item_wins() -> None:
    first, second = rule(job="periodic-*"), rule(job="*-e2e-aws")
    got = expand(items(first, second), [], feed(Build(PERIODIC), Build(PULL)), {}, prow=PROW)
    assert [(j.name, j.item.rule, j.settings) for j in got.jobs] == [
        (PERIODIC, first, "settings-0"),
        (PULL, second, "settings-1"),
    ]
    assert set(got.remembered[second.key]) == {PERIODIC, PULL}


def test_a_rule_that_matches_nothing_is_named() -> None:
    lonely = parse_match({"job": "nightly-*", "type": "batch"}, path="f", line=1)
    got = expand(items(rule(job="p*"), lonely), [], feed(Build(PERIODIC)), {}, prow=PROW)
    assert [j.name for j in got.jobs] == [PERIODIC]
    assert got.unmatched == (lonely,)
    assert got.messages == ['match {job: "nightly-*", type: batch} matched no job']
    assert lonely.key not in got.remembered


def test_a_remembered_job_absent_from_the_feed_stays_with_its_url() -> None:
    r = rule(job="periodic-*")
    old = url("periodic-paused", base="https://old-deck.test", bucket="old-bucket")
    remembered = {r.key: {"periodic-paused": old}, "job=gone-*": {"gone-a": url("gone-a")}}
    got = expand(items(r), [], feed(Build(PERIODIC)), remembered, prow=PROW)
    assert [(j.name, j.url.url, j.from_feed) for j in got.jobs] == [
        (PERIODIC, url(PERIODIC), True),
        ("periodic-paused", old, False),
    ]
    assert got.remembered == {
        r.key: {PERIODIC: url(PERIODIC), "periodic-paused": old},
        "job=gone-*": {"gone-a": url("gone-a")},  # another file's rule: kept
    }


def test_the_feed_refreshes_a_remembered_url() -> None:
    r = rule(type="periodic")
    remembered = {r.key: {PERIODIC: url(PERIODIC, bucket="old-bucket")}}
    # Its newest build is now a postsubmit elsewhere: still remembered, new URL.
    builds = feed(Build(PERIODIC, "postsubmit", "new-bucket"))
    got = expand(items(r), [], builds, remembered, prow=PROW)
    assert [(j.name, j.url.url, j.from_feed) for j in got.jobs] == [
        (PERIODIC, url(PERIODIC, bucket="new-bucket"), True)
    ]


def test_remembered_entries_the_rule_no_longer_admits_are_dropped() -> None:
    r = rule(job="periodic-*", excludes=("*-aws",))
    remembered = {r.key: {PERIODIC: url(PERIODIC), "x": url("x"), "periodic-b": url("other")}}
    got = expand(items(r), [], None, remembered, prow=PROW)
    assert got.jobs == () and got.unmatched == (r,)


def test_without_the_feed_a_rule_uses_its_remembered_jobs_or_fails() -> None:
    known, unknown = rule(job="periodic-*"), rule(job="pull-*")
    remembered = {known.key: {PERIODIC: url(PERIODIC)}}
    got = expand(items(known, unknown), [], None, remembered, prow=PROW)
    assert [(j.name, j.from_feed) for j in got.jobs] == [(PERIODIC, False)]
    assert got.messages == [f"{unknown.describe()} matched no job"]


def test_feed_jobs_whose_names_are_not_file_names_are_skipped() -> None:
    builds = {b.job: b for b in (Build("p-ok"), Build("p/../x"), Build("p..y"), Build("p x"))}
    got = expand(items(rule(job="*")), [], builds, {}, prow=PROW)
    assert [j.name for j in got.jobs] == ["p-ok"]


def test_newest_builds_takes_the_first_of_each_job() -> None:
    a1, a2 = Build("a", bucket="b1"), Build("a", bucket="b2")
    assert newest_builds({"a": (a1, a2), "b": ()}) == {"a": a1}
