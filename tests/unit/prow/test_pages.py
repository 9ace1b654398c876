"""crawler.core.builds: job-history URL forms, deck page parsing and the history walk."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.core.builds import (
    BuildRef,
    JobURL,
    PullRef,
    parse_job_url,
    started_epoch,
    validate_job_name,
)
from crawler.prow.pages import (
    HistoryPage,
    PageError,
    SkippedEntry,
    parse_history_page,
    walk_history,
)
from tests.unit import factories
from tests.unit.factories import HEAD_SHA, SHA, build_ref, go_json, json_values, page_entry

HOST = "https://prow.example.org"
JOB = "periodic-ci-org-repo-main-e2e"
HISTORY_PATH = f"/job-history/gs/test-platform-results/logs/{JOB}"
PAGE_URL = HOST + HISTORY_PATH
PR_JOB = "pull-ci-org-repo-main-unit"
PR_PAGE_URL = f"{HOST}/job-history/gs/test-platform-results/pr-logs/directory/{PR_JOB}"


# -- deck pages of JOB ----------------------------------------------------------------------------


def entry(build_id: Any, **fields: Any) -> dict[str, Any]:
    """page_entry for a build of JOB."""
    return page_entry(build_id, job=JOB, **fields)


def deck_page(entries: Any, **kw: Any) -> str:
    """factories.deck_page of JOB, its JSON escaped to ASCII."""
    return factories.deck_page(entries, job=JOB, ascii_only=True, **kw)


# -- URL forms ------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["https", "http"])
@pytest.mark.parametrize("slash", ["", "/"])
@pytest.mark.parametrize(
    ("path", "prefix", "presubmit"),
    [
        ("/job-history/gs/test-platform-results/logs/JOBNAME", "logs", False),
        (
            "/job-history/gs/test-platform-results/pr-logs/directory/JOBNAME",
            "pr-logs/directory",
            True,
        ),
        # The old form without gs/: deck adds it itself.
        ("/job-history/test-platform-results/logs/JOBNAME", "logs", False),
        (
            "/job-history/test-platform-results/pr-logs/directory/JOBNAME",
            "pr-logs/directory",
            True,
        ),
    ],
)
def test_parse_job_url_accepts_every_deck_form(
    scheme: str, slash: str, path: str, prefix: str, presubmit: bool
) -> None:
    url = f"{scheme}://prow.ci.openshift.org{path}{slash}"
    job = parse_job_url(url)
    assert job == JobURL(
        base=f"{scheme}://prow.ci.openshift.org",
        bucket="test-platform-results",
        prefix=prefix,
        job="JOBNAME",
    )
    assert job.presubmit is presubmit
    # The canonical URL always carries gs/ and no trailing slash.
    assert job.url == (
        f"{scheme}://prow.ci.openshift.org/job-history/gs/test-platform-results/{prefix}/JOBNAME"
    )


@pytest.mark.parametrize(
    ("address", "ignored"),
    [
        ("http://www.example.com/job-history/foo-bucket/logs/bar-e2e", ""),
        ("http://www.example.com/job-history/foo-bucket/logs/bar-e2e?buildId=", "?buildId="),
        (
            "http://www.example.com/job-history/foo-bucket/logs/bar-e2e?buildId=123456789123456789",
            "?buildId=123456789123456789",
        ),
        ("http://www.example.com/job-history/gs/foo-bucket/logs/bar-e2e", ""),
        ("http://www.example.com/job-history/gs/foo-bucket/logs/bar-e2e?buildId=", "?buildId="),
        (
            "http://www.example.com/job-history/gs/foo-bucket/logs/bar-e2e"
            "?buildId=123456789123456789",
            "?buildId=123456789123456789",
        ),
    ],
)
def test_deck_url_cases_with_a_build_id_are_the_same_job(address: str, ignored: str) -> None:
    """deck's own parser cases: a page further back is the same job (the query dropped)."""
    job = parse_job_url(address)
    assert (job.bucket, job.prefix, job.job) == ("foo-bucket", "logs", "bar-e2e")
    assert job.url == "http://www.example.com/job-history/gs/foo-bucket/logs/bar-e2e"
    assert job.ignored == ignored
    assert job == parse_job_url(job.url)


def test_parse_job_url_keeps_port_and_strips_whitespace() -> None:
    job = parse_job_url("  http://127.0.0.1:8080/job-history/gs/b/logs/j-1.x_y \n")
    assert job.base == "http://127.0.0.1:8080"
    assert job.url == "http://127.0.0.1:8080/job-history/gs/b/logs/j-1.x_y"


def test_canonical_url_round_trips() -> None:
    job = parse_job_url("https://h.example/job-history/b/pr-logs/directory/pull-x")
    assert parse_job_url(job.url) == job


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("https://h/job-history/gs/b/logs/j#top", "no #fragment"),
        # deck's own refusals (cmd/deck/job_history_test.go)
        ("http://www.example.com/job-history", "not a job-history URL"),
        ("http://www.example.com/job-history/", "not a job-history URL"),
        ("http://www.example.com/job-history/foo-bucket", "not a job-history URL"),
        ("http://www.example.com/job-history/foo-bucket/", "not a job-history URL"),
        ("http://e.com/job-history/foo-bucket/logs/bar-e2e?buildId=-738", "not a build ID"),
        ("http://e.com/job-history/foo-bucket/logs/bar-e2e?buildId=nope", "not a build ID"),
        ("http://e.com/job-history/gs/b/logs/j?buildId=0", "not a build ID"),
        ("http://e.com/job-history/gs/b/logs/j?buildId=%D9%A1", "not a build ID"),
        (f"http://e.com/job-history/gs/b/logs/j?buildId={2**64}", "not a build ID"),
        ("http://e.com/job-history/gs/b/logs/j?page=2", "takes only ?buildId="),
        ("http://e.com/job-history/s3/foo-bucket/logs/bar-e2e", "reads GCS buckets only"),
        ("http://e.com/job-history/s3/b/logs/j?buildId=123456789123456789", "S3"),
        ("https://h/view/gs/b/logs/j/123", "not a job-history URL"),
        ("https://h/job-history/gs/b/logs", "not a job-history URL"),
        ("https://h/job-history/gs/b/logs/j/123", "not a job-history URL"),
        ("https://h/job-history/gs/b/pr-logs/pull/j", "not a job-history URL"),
        ("https://h/job-history/gs/b/pr-logs/directory", "not a job-history URL"),
        ("https://h/job-history/gs/b/other/j", "not a job-history URL"),
        ("https://h/", "not a job-history URL"),
        ("https://h/job-history/gs/b/logs/..", "not usable as a tracker file name"),
        ("https://h/job-history/gs/b/logs/a..b", "not usable as a tracker file name"),
        ("https://h/job-history/gs/b/logs/.hidden", "not usable as a tracker file name"),
        ("https://h/job-history/gs/b/logs/%2e%2e", "not usable as a tracker file name"),
        ("https://h/job-history/gs/b/logs/j%2Fk", "not usable as a tracker file name"),
        ("https://h/job-history/gs/b/logs/j%00", "not usable as a tracker file name"),
        ("ftp://h/job-history/gs/b/logs/j", "not an http(s) URL"),
        ("file:///job-history/gs/b/logs/j", "not an http(s) URL"),
        ("gs://b/logs/j", "not an http(s) URL"),
        ("javascript:alert(1)", "not an http(s) URL"),
        ("https:///job-history/gs/b/logs/j", "not an http(s) URL"),
        ("prow.ci.openshift.org/job-history/gs/b/logs/j", "not an http(s) URL"),
        ("", "not an http(s) URL"),
    ],
)
def test_parse_job_url_rejects(url: str, phrase: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_job_url(url)
    assert phrase in str(info.value)


@pytest.mark.parametrize("name", ["j", "J0", "a.b_c-d", "0abc", "a" * 200])
def test_validate_job_name_accepts(name: str) -> None:
    assert validate_job_name(name) == name


@pytest.mark.parametrize(
    "name", ["", ".", "..", "a..b", "-x", "_x", ".x", "a/b", "a\\b", "a\x00b", "a b", "jöb"]
)
def test_validate_job_name_rejects(name: str) -> None:
    with pytest.raises(ValueError, match="tracker file name"):
        validate_job_name(name)


# -- page parsing ---------------------------------------------------------------------------------


def test_parse_periodic_page() -> None:
    builds = [
        entry("1950119109857382400", result="SUCCESS"),
        entry("1950016180445962240", result="FAILURE", started="2025-07-29T07:00:00Z"),
        entry(
            "1949912345678901248",
            bucket="test-platform-results-public",
            result="PENDING",
            started="0001-01-01T00:00:00Z",
        ),
    ]
    page = parse_history_page(deck_page(builds, older=1949800000000000000), PAGE_URL)
    assert isinstance(page, HistoryPage)
    assert [b.id for b in page.builds] == [
        "1950119109857382400",
        "1950016180445962240",
        "1949912345678901248",
    ]
    assert page.skipped == []
    first = page.builds[0]
    assert first == BuildRef(
        id="1950119109857382400",
        bucket="test-platform-results",
        path=f"logs/{JOB}/1950119109857382400",
        result="SUCCESS",
        started="2025-07-30T07:00:34Z",
    )
    assert first.key == 1950119109857382400
    assert not first.running
    assert first.spyglass_path == (f"/view/gs/test-platform-results/logs/{JOB}/1950119109857382400")
    # The bucket comes from each build's SpyglassLink, not from the job URL.
    assert page.builds[2].bucket == "test-platform-results-public"
    assert page.builds[2].running
    assert page.older_url == f"{PAGE_URL}?buildId=1949800000000000000"


def test_parse_presubmit_page_with_go_escaping_and_brackets() -> None:
    title = "Fix <script> & [WIP] ]]; var x = [1]; </script>"
    refs = {
        "org": "openshift",
        "repo": "origin",
        "repo_link": "https://github.com/openshift/origin",
        "base_ref": "release-4.18]",
        "base_sha": SHA,
        "pulls": [
            {
                "number": 29001,
                "author": "octo<cat>",
                "sha": HEAD_SHA,
                "title": title,
                "link": "https://github.com/openshift/origin/pull/29001",
            }
        ],
    }
    build_path = f"pr-logs/pull/29001/{PR_JOB}/1950200000000000001"
    raw_page = deck_page(
        [entry("1950200000000000001", path=build_path, refs=refs)],
        history_path=PR_PAGE_URL.removeprefix(HOST),
    )
    # The page really is Go-escaped: no raw '<' of the title inside the script.
    assert "\\u003cscript\\u003e \\u0026 [WIP] ]]" in raw_page
    assert title not in raw_page
    page = parse_history_page(raw_page, PR_PAGE_URL)
    assert page.older_url is None
    [build] = page.builds
    assert build.path == build_path
    assert (build.org, build.repo) == ("openshift", "origin")
    assert build.pull == PullRef(
        number=29001,
        author="octo<cat>",
        sha=HEAD_SHA,
        link="https://github.com/openshift/origin/pull/29001",
    )


@pytest.mark.parametrize(
    ("pulls", "expected"),
    [
        (None, None),
        ([], None),
        (["x"], None),
        ([{"number": 0}], None),
        ([{"number": -3}], None),
        ([{"number": "12"}], None),
        ([{"number": True}], None),
        ([{"number": 7}], PullRef(number=7, author="", sha="", link="")),
        (
            [{"number": 7, "author": 5, "sha": None, "link": ["x"]}],
            PullRef(number=7, author="", sha="", link=""),
        ),
    ],
)
def test_pull_refs_are_read_leniently(pulls: Any, expected: PullRef | None) -> None:
    refs = {"org": "o", "repo": "r", "pulls": pulls}
    [build] = parse_history_page(deck_page([entry("5", refs=refs)]), PAGE_URL).builds
    assert build.pull == expected


@pytest.mark.parametrize(
    "refs", [None, {}, {"org": "o"}, {"org": "", "repo": "r"}, {"org": 1, "repo": "r"}, "o/r"]
)
def test_incomplete_refs_give_no_repo(refs: Any) -> None:
    [build] = parse_history_page(deck_page([entry("5", refs=refs)]), PAGE_URL).builds
    assert build.org is None
    assert build.repo is None


def test_ids_of_different_widths_compare_as_integers() -> None:
    page = parse_history_page(
        deck_page([entry("1950119109857382400"), entry("16"), entry("9"), entry("100")]),
        PAGE_URL,
    )
    ids = [b.id for b in page.builds]
    assert ids == ["1950119109857382400", "16", "9", "100"]
    # As strings "9" > "1950..."; as unsigned integers it is the oldest.
    assert sorted(page.builds, key=lambda b: b.key)[0].id == "9"
    assert max(page.builds, key=lambda b: b.key).id == "1950119109857382400"
    assert page.builds[1].path == f"logs/{JOB}/16"


def test_page_without_older_link_is_the_last_page() -> None:
    page = parse_history_page(deck_page([entry("3"), entry("2")], older=None), PAGE_URL)
    assert [b.id for b in page.builds] == ["3", "2"]
    assert page.older_url is None


def test_empty_history_page() -> None:
    page = parse_history_page(deck_page([]), PAGE_URL)
    assert page == HistoryPage(builds=[], skipped=[], older_url=None)


@pytest.mark.parametrize(
    "text",
    [
        "failed to get job history: invalid url /job-history/gs/b/logs/nope: "
        "failed to locate build data: object doesn't exist\n",
        "<html><body>Deck is down</body></html>",
        "",
        "var allBuild = [];",
    ],
)
def test_page_without_all_builds_is_a_page_error(text: str) -> None:
    with pytest.raises(PageError, match="allBuilds"):
        parse_history_page(text, PAGE_URL)


def test_prowjobs_js_shape_is_a_page_error() -> None:
    text = 'var allBuilds = {"items": []};'
    with pytest.raises(PageError, match="not a list"):
        parse_history_page(text, PAGE_URL)


@pytest.mark.parametrize(
    "raw", ['[{"ID": "1"', "[{'ID': '1'}]", "", "undefined;", '"text"', "42;", "null;"]
)
def test_unreadable_all_builds_is_a_page_error(raw: str) -> None:
    with pytest.raises(PageError):
        parse_history_page(deck_page(None, raw_all_builds=raw), PAGE_URL)


def test_deeply_nested_all_builds_is_a_page_error() -> None:
    """A broken or hostile page must not escape as RecursionError."""
    raw = "[" * 200_000 + "]" * 200_000
    with pytest.raises(PageError):
        parse_history_page(deck_page(None, raw_all_builds=raw), PAGE_URL)


def test_entries_with_empty_id_are_skipped_silently() -> None:
    no_id = entry("7")
    del no_id["ID"]
    page = parse_history_page(
        deck_page([entry(""), entry("8"), no_id, entry(None), entry("6")]), PAGE_URL
    )
    assert [b.id for b in page.builds] == ["8", "6"]
    assert page.skipped == []


@pytest.mark.parametrize(
    ("bad", "skipped_id", "reason"),
    [
        (entry("12a"), "12a", "not a decimal number"),
        (entry("-5"), "-5", "not a decimal number"),
        (entry("1.5"), "1.5", "not a decimal number"),
        (entry(" 5"), " 5", "not a decimal number"),
        (entry("\u0661\u0662"), "\u0661\u0662", "not a decimal number"),  # Arabic-Indic 12
        (entry(12), "12", "not a decimal number"),
        (entry(["1"]), "['1']", "not a decimal number"),
        (entry("5", link=None) | {"SpyglassLink": None}, "5", "SpyglassLink is not"),
        (entry("5", link="https://evil.example/view/gs/b/logs/j/5"), "5", "SpyglassLink is not"),
        (entry("5", link="/view/s3/b/logs/j/5"), "5", "SpyglassLink is not"),
        (entry("5", link=f"/view/gs/b/logs/{JOB}/6"), "5", "does not name this build"),
        (entry("5", link=f"/view/gs/b/logs/{JOB}/15"), "5", "does not name this build"),
        (entry("5", link="/view/gs/b/logs/j/../../other/5"), "5", "does not name this build"),
        (entry("5", link="/view/gs/b/../5"), "5", "does not name this build"),
        (entry("5", link="/view/gs/b//logs/5"), "5", "does not name this build"),
        (entry("5", link="/view/gs//logs/j/5"), "5", "does not name this build"),
        (entry("5", link="/view/gs/b"), "5", "does not name this build"),
        (entry("5", link="/view/gs/"), "5", "does not name this build"),
        ("not an object", "", "not an object"),
        (None, "", "not an object"),
        ([entry("5")], "", "not an object"),
    ],
)
def test_unusable_entries_are_reported_as_skipped(bad: Any, skipped_id: str, reason: str) -> None:
    page = parse_history_page(deck_page([entry("9"), bad, entry("4")]), PAGE_URL)
    assert [b.id for b in page.builds] == ["9", "4"]
    assert len(page.skipped) == 1
    skipped = page.skipped[0]
    assert isinstance(skipped, SkippedEntry)
    assert skipped.id == skipped_id
    assert reason in skipped.reason


def test_skipped_id_is_truncated() -> None:
    page = parse_history_page(deck_page([entry("x" * 500)]), PAGE_URL)
    assert page.skipped[0].id == "x" * 40


def test_duplicate_entries_are_listed_once() -> None:
    page = parse_history_page(
        deck_page([entry("5"), entry("5", bucket="other"), entry("4")]), PAGE_URL
    )
    assert [(b.id, b.bucket) for b in page.builds] == [
        ("5", "test-platform-results"),
        ("4", "test-platform-results"),
    ]


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ("SUCCESS", "SUCCESS"),
        ("failure", "FAILURE"),
        ("Aborted", "ABORTED"),
        ("PENDING", "PENDING"),
        ("", "UNKNOWN"),
        (None, "UNKNOWN"),
        (3, "UNKNOWN"),
    ],
)
def test_result_is_upper_cased(result: Any, expected: str) -> None:
    [build] = parse_history_page(deck_page([entry("5", result=result)]), PAGE_URL).builds
    assert build.result == expected
    assert build.running is (expected == "PENDING")


def test_nested_build_path_is_kept_whole() -> None:
    path = f"pr-logs/pull/openshift_release/123/{PR_JOB}/77"
    [build] = parse_history_page(deck_page([entry("77", path=path)]), PR_PAGE_URL).builds
    assert build.path == path
    assert build.spyglass_path == f"/view/gs/test-platform-results/{path}"


def test_non_string_started_becomes_zero_time() -> None:
    [build] = parse_history_page(deck_page([entry("5", started=12345)]), PAGE_URL).builds
    assert build.started == "0001-01-01T00:00:00Z"
    assert started_epoch(build) is None


# -- Older link -----------------------------------------------------------------------------------


def test_older_link_on_a_page_that_has_a_cursor_already() -> None:
    page_url = f"{PAGE_URL}?buildId=500"
    page = parse_history_page(deck_page([entry("500")], older=480), page_url)
    assert page.older_url == f"{PAGE_URL}?buildId=480"


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        (f"{HISTORY_PATH}?buildId=123", f"{PAGE_URL}?buildId=123"),
        (f"{PAGE_URL}?buildId=123", f"{PAGE_URL}?buildId=123"),
        ("?buildId=123", f"{PAGE_URL}?buildId=123"),
        (f"{HISTORY_PATH}?buildId=123&amp;x=1", f"{PAGE_URL}?buildId=123"),
        (
            f"{HISTORY_PATH}?x=1&amp;buildId=1950119109857382400",
            f"{PAGE_URL}?buildId=1950119109857382400",
        ),
        # Leaving the job's history is never followed.
        (f"https://evil.example{HISTORY_PATH}?buildId=123", None),
        (f"//evil.example{HISTORY_PATH}?buildId=123", None),
        (f"http://prow.example.org{HISTORY_PATH}?buildId=123", None),
        ("/job-history/gs/test-platform-results/logs/other-job?buildId=123", None),
        ("/view/gs/test-platform-results/logs/x?buildId=123", None),
        # The cursor must be a build ID.
        (f"{HISTORY_PATH}?buildId=abc", None),
        (f"{HISTORY_PATH}?buildId=", None),
        (f"{HISTORY_PATH}?buildId=-1", None),
        (HISTORY_PATH, None),
        ("javascript:void(0)", None),
    ],
)
def test_older_link_resolution(href: str, expected: str | None) -> None:
    page = parse_history_page(deck_page([entry("200")], older_href=href), PAGE_URL)
    assert page.older_url == expected


def test_older_link_text_must_say_older_runs() -> None:
    text = deck_page([entry("5")]).replace(
        "</footer>", f'</footer><a href="{HISTORY_PATH}?buildId=4">Newer Runs -&gt;</a>'
    )
    assert parse_history_page(text, PAGE_URL).older_url is None


def test_older_link_with_extra_attributes_and_single_quotes() -> None:
    text = deck_page([entry("5")]).replace(
        "</footer>",
        f"</footer><a class='x' href='{HISTORY_PATH}?buildId=4' id=\"older\">"
        "  &lt;-  Older  Runs </a>",
    )
    assert parse_history_page(text, PAGE_URL).older_url == f"{PAGE_URL}?buildId=4"


# -- started_epoch --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("started", "expected"),
    [
        ("2025-07-30T07:00:34Z", 1753858834),
        ("2025-07-30T09:00:34+02:00", 1753858834),
        ("0001-01-01T00:00:00Z", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_started_epoch(started: str, expected: int | None) -> None:
    build = build_ref(1, bucket="b", started=started)
    assert started_epoch(build) == expected


# -- walk_history ---------------------------------------------------------------------------------


class CannedDeck:
    """Serves canned pages by URL (parsed, as walk_history's fetch must) and records URLs."""

    def __init__(self, pages: dict[str, str]) -> None:
        self.pages = pages
        self.fetched: list[str] = []

    async def __call__(self, url: str) -> HistoryPage:
        self.fetched.append(url)
        return parse_history_page(self.pages[url], url)


def chained_pages(chain: list[tuple[list[str], int | None]]) -> dict[str, str]:
    """Pages whose Older links form a chain: (IDs on the page, older cursor or None)."""
    pages: dict[str, str] = {}
    url = PAGE_URL
    for ids, older in chain:
        pages[url] = deck_page([entry(i) for i in ids], older=older)
        if older is not None:
            url = f"{PAGE_URL}?buildId={older}"
    return pages


async def collect(deck: CannedDeck, **kwargs: Any) -> list[HistoryPage]:
    """Every page walk_history yields from PAGE_URL on."""
    return [page async for page in walk_history(deck, PAGE_URL, **kwargs)]


async def test_walk_follows_older_links_to_the_last_page() -> None:
    deck = CannedDeck(chained_pages([(["30", "29"], 28), (["28", "27"], 26), (["26", "25"], None)]))
    pages = await collect(deck)
    assert deck.fetched == [PAGE_URL, f"{PAGE_URL}?buildId=28", f"{PAGE_URL}?buildId=26"]
    assert [[b.id for b in p.builds] for p in pages] == [["30", "29"], ["28", "27"], ["26", "25"]]


async def test_walk_crosses_id_widths() -> None:
    deck = CannedDeck(
        chained_pages([(["1950119109857382400"], 99), (["99", "16"], 9), (["9"], None)])
    )
    pages = await collect(deck)
    assert len(pages) == 3
    assert deck.fetched[-1] == f"{PAGE_URL}?buildId=9"


@pytest.mark.parametrize("max_pages", [1, 2])
async def test_walk_honours_max_pages(max_pages: int) -> None:
    deck = CannedDeck(chained_pages([(["30"], 28), (["28"], 26), (["26"], 24), (["24"], None)]))
    pages = await collect(deck, max_pages=max_pages)
    assert len(pages) == max_pages
    assert len(deck.fetched) == max_pages


async def test_walk_with_max_pages_zero_fetches_nothing() -> None:
    deck = CannedDeck(chained_pages([(["30"], None)]))
    assert await collect(deck, max_pages=0) == []
    assert deck.fetched == []


async def test_walk_stops_when_the_cursor_repeats() -> None:
    pages = {
        PAGE_URL: deck_page([entry("30")], older=28),
        f"{PAGE_URL}?buildId=28": deck_page([entry("28")], older=28),
    }
    deck = CannedDeck(pages)
    result = await collect(deck)
    assert deck.fetched == [PAGE_URL, f"{PAGE_URL}?buildId=28"]
    assert len(result) == 2


async def test_walk_stops_when_the_cursor_moves_forwards() -> None:
    pages = {
        PAGE_URL: deck_page([entry("30")], older=28),
        f"{PAGE_URL}?buildId=28": deck_page([entry("28")], older=26),
        f"{PAGE_URL}?buildId=26": deck_page([entry("26")], older=29),
        f"{PAGE_URL}?buildId=29": deck_page([entry("29")], older=None),
    }
    deck = CannedDeck(pages)
    result = await collect(deck)
    assert deck.fetched == [PAGE_URL, f"{PAGE_URL}?buildId=28", f"{PAGE_URL}?buildId=26"]
    assert len(result) == 3


async def test_walk_stops_when_the_caller_stops() -> None:
    deck = CannedDeck(chained_pages([(["30"], 28), (["28"], 26), (["26"], None)]))
    async for _page in walk_history(deck, PAGE_URL):
        break
    assert deck.fetched == [PAGE_URL]


async def test_walk_propagates_page_errors() -> None:
    deck = CannedDeck(
        {
            PAGE_URL: deck_page([entry("30")], older=28),
            f"{PAGE_URL}?buildId=28": "failed to get job history",
        }
    )
    seen = []
    with pytest.raises(PageError):
        async for page in walk_history(deck, PAGE_URL):
            seen.append(page)
    assert len(seen) == 1


# -- properties -----------------------------------------------------------------------------------

_json = json_values(int_bound=2**70, finite=True, max_text=20, max_key=6, max_leaves=8)
_digits = st.from_regex(r"[0-9]{1,22}", fullmatch=True)


@st.composite
def _history_entry(draw: st.DrawFn) -> Any:
    build_id = draw(st.one_of(_digits, _digits, st.just(""), _json))
    link_id = build_id if draw(st.booleans()) else draw(st.one_of(_digits, st.text(max_size=8)))
    bucket = draw(st.sampled_from(["b", "test-platform-results", "", "..", "a/b"]))
    middle = draw(st.sampled_from(["logs/j", "pr-logs/pull/1/j", "", "..", "logs//j", "x/../y"]))
    link = draw(
        st.one_of(
            st.just(f"/view/gs/{bucket}/{middle}/{link_id}"),
            st.just(f"/view/gs/{bucket}/{link_id}"),
            st.text(max_size=30),
            _json,
        )
    )
    fields = {
        "ID": st.just(build_id),
        "SpyglassLink": st.just(link),
        "Started": st.one_of(st.just("2025-01-02T03:04:05Z"), _json),
        "Duration": _json,
        "Result": st.one_of(st.sampled_from(["SUCCESS", "PENDING", "error"]), _json),
        "Refs": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "org": _json,
                    "repo": _json,
                    "pulls": st.lists(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "number": _json | st.integers(),
                                "author": _json,
                                "sha": _json,
                                "link": _json,
                            },
                        )
                        | _json,
                        max_size=2,
                    )
                    | _json,
                },
            ),
            _json,
        ),
    }
    present = draw(st.sets(st.sampled_from(sorted(fields))))
    if draw(st.integers(0, 9)) == 0:
        return draw(_json)  # not even an object
    return {key: draw(fields[key]) for key in sorted(present)}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(_history_entry(), max_size=8), older=st.none() | _digits | st.text())
def test_parse_history_page_property(entries: list[Any], older: str | None) -> None:
    text = deck_page(entries, older=older)
    try:
        page = parse_history_page(text, PAGE_URL)
    except PageError:  # pragma: no cover - a list always parses
        pytest.fail("a list of entries must never be a PageError")
    ids = [b.id for b in page.builds]
    assert len(ids) == len(set(ids))
    for build in page.builds:
        assert build.id.isascii() and build.id.isdigit()
        assert build.path.endswith(build.id)
        assert build.path.split("/")[-1] == build.id
        assert ".." not in build.path.split("/")
        assert build.bucket and "/" not in build.bucket
        assert build.result == build.result.upper()
        assert build.key == int(build.id)
    assert len(page.builds) + len(page.skipped) <= len(entries)
    if page.older_url is not None:
        assert page.older_url.startswith(f"{PAGE_URL}?buildId=")


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.text(max_size=40),
    body=st.one_of(st.text(max_size=60), _json.map(lambda v: go_json(v, ascii_only=True))),
    suffix=st.text(max_size=40),
)
def test_parse_history_page_never_raises_anything_but_page_error(
    prefix: str, body: str, suffix: str
) -> None:
    text = f"{prefix}var allBuilds = {body}{suffix}"
    try:
        page = parse_history_page(text, PAGE_URL)
    except PageError:
        return
    for build in page.builds:
        assert build.path.endswith(build.id)
