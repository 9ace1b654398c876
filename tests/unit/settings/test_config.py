"""crawler.settings.config: jobs.yaml validation with file and line in every error."""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.core.defaults import DEFAULT_API_URL, DEFAULT_ORIGIN
from crawler.core.errors import ConfigError
from crawler.core.jobs import Config, Limits, LogilicaSettings, OutputSettings, TriggeredBy
from crawler.settings.config import (
    Overrides,
    apply_overrides,
    check_horizons,
    loop_from_env,
    parse_duration,
    select_jobs,
    single_job_config,
)
from crawler.settings.jobsfile import load_config, parse_config

PATH = "conf/jobs.yaml"
HOST = "https://prow.ci.openshift.org"
PERIODIC = f"{HOST}/job-history/gs/test-platform-results/logs/periodic-ci-a-b-main-daily"
PRESUBMIT = f"{HOST}/job-history/gs/test-platform-results/pr-logs/directory/pull-ci-a-b-main-e2e"
OLD_FORM = f"{HOST}/job-history/origin-ci-test/logs/release-openshift-origin-installer"

FULL = f"""\
# every key there is
jobs:
  - {PERIODIC}
  - url: {PRESUBMIT}
    repo: codeready-toolchain/toolchain-e2e
    name: e2e-presubmit
    limit: 0
  - url: {OLD_FORM}
    limit: 7
defaults:
  repo: default-org/default-repo
  limit: 50
  triggered_by:
    name: Nightly Bot
    email: bot@example.com
    account_id: bot-1
logilica:
  domain: redhat
  api_url: https://logilica.example/api/import/v1
  origin: My_CI
limits:
  deck_concurrency: 2
  deck_rps: 0.5
  gcs_concurrency: 16
  logilica_concurrency: 3
  logilica_rps: 7
  timeout: 12.5
  batch_size: 40
"""

MINIMAL_JOBS = f"jobs:\n  - {PERIODIC}\n"


def error_for(text: str, path: str = PATH) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), path)
    return info.value


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the n-th line containing `needle`."""
    hits = [n for n, line in enumerate(textwrap.dedent(text).splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def assert_error(text: str, line: int | None, *phrases: str) -> ConfigError:
    err = error_for(text)
    message = str(err)
    if line is None:
        assert message.startswith(f"{PATH}: ")
    else:
        assert message.startswith(f"{PATH}:{line}: "), message
    assert err.path == PATH
    assert err.line == line
    for phrase in phrases:
        assert phrase in message, message
    return err


# -- valid files ----------------------------------------------------------------------------------


def test_full_config_with_every_key() -> None:
    config = parse_config(FULL, PATH)
    assert isinstance(config, Config)
    assert config.path == PATH
    assert config.triggered_by == TriggeredBy(
        name="Nightly Bot", email="bot@example.com", account_id="bot-1"
    )
    assert config.logilica == LogilicaSettings(
        domain="redhat", api_url="https://logilica.example/api/import/v1", origin="My_CI"
    )
    assert config.limits == Limits(
        deck_concurrency=2,
        deck_rps=0.5,
        gcs_concurrency=16,
        logilica_concurrency=3,
        logilica_rps=7,
        timeout=12.5,
        batch_size=40,
    )
    periodic, presubmit, old = config.jobs
    # A bare URL takes the job name from the URL and every default.
    assert periodic.name == "periodic-ci-a-b-main-daily"
    assert periodic.url.url == PERIODIC
    assert not periodic.url.presubmit
    assert periodic.repo == "default-org/default-repo"
    assert periodic.limit == 50
    # A mapping's own values win, including limit 0 over the default.
    assert presubmit.name == "e2e-presubmit"
    assert presubmit.url.presubmit
    assert presubmit.url.job == "pull-ci-a-b-main-e2e"
    assert presubmit.repo == "codeready-toolchain/toolchain-e2e"
    assert presubmit.limit == 0
    # The old URL form is normalised; unset keys fall back to the defaults.
    assert old.url.url == (
        f"{HOST}/job-history/gs/origin-ci-test/logs/release-openshift-origin-installer"
    )
    assert old.repo == "default-org/default-repo"
    assert old.limit == 7


def test_minimal_config_uses_documented_defaults() -> None:
    config = parse_config(MINIMAL_JOBS, PATH)
    assert config.triggered_by == TriggeredBy()
    assert config.limits == Limits()
    assert config.logilica == LogilicaSettings(
        domain=None, api_url=DEFAULT_API_URL, origin=DEFAULT_ORIGIN
    )
    [job] = config.jobs
    assert (job.repo, job.limit, job.discovery, job.since) == (None, 50, "auto", None)


def test_empty_email_is_allowed_and_other_triggered_by_keys_keep_defaults() -> None:
    text = MINIMAL_JOBS + 'defaults:\n  triggered_by:\n    email: ""\n'
    assert parse_config(text, PATH).triggered_by == TriggeredBy(email="")


def test_strings_are_stripped() -> None:
    text = MINIMAL_JOBS + "logilica:\n  domain: '  redhat  '\n"
    assert parse_config(text, PATH).logilica.domain == "redhat"


def test_shipped_jobs_yaml_is_valid() -> None:
    shipped = Path(__file__).resolve().parents[3] / "jobs.yaml"
    if not shipped.exists():
        pytest.skip("no jobs.yaml in the repository")
    config = load_config(shipped)
    assert config.jobs
    assert all(job.url.url.startswith("https://") for job in config.jobs)


# -- YAML level errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (f"jobs:\n  - {PERIODIC}\n  - url: [unclosed\nlimits:\n  timeout: 3\n", "limits:"),
        (f"jobs:\n  - {PERIODIC}\nlimits:\n\ttimeout: 3\n", "\ttimeout"),
        ('jobs:\n  - "unterminated\n', None),
        (f"jobs:\n  - {PERIODIC}\n bad: indent\n", "bad: indent"),
    ],
)
def test_yaml_syntax_error_reports_the_line(text: str, needle: str | None) -> None:
    line = line_of(text, needle) if needle else len(text.splitlines()) + 1
    assert_error(text, line, "YAML syntax error")


def test_yaml_error_never_runs_python_tags() -> None:
    assert_error("jobs: !!python/object/apply:os.system ['true']\n", 1, "YAML syntax error")


def test_duplicate_yaml_key_reports_the_second_line() -> None:
    text = f"jobs:\n  - {PERIODIC}\nlimits:\n  timeout: 3\n  timeout: 4\n"
    assert_error(text, 5, "duplicate key 'timeout'")


def test_non_string_key() -> None:
    text = f"jobs:\n  - url: {PERIODIC}\n    1: 2\n"
    assert_error(text, 3, "key 1 is not a string")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file(text: str) -> None:
    assert_error(text, None, "the file is empty", "jobs:")


def test_top_level_must_be_a_mapping() -> None:
    assert_error(f"- {PERIODIC}\n", 1, "the top level must be a mapping")


def test_missing_jobs_key() -> None:
    assert_error("# no jobs\nlimits:\n  timeout: 5\n", 2, "missing 'jobs:'")


# -- unknown keys, at every level -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needle", "phrase"),
    [
        (MINIMAL_JOBS + "job:\n  - x\n", "job:", "unknown key 'job' in the top level"),
        (
            MINIMAL_JOBS + "defaults:\n  limit: 3\n  repos: a/b\n",
            "repos:",
            "unknown key 'repos' in defaults",
        ),
        (
            MINIMAL_JOBS + "defaults:\n  triggered_by:\n    name: x\n    mail: a@b\n",
            "mail:",
            "unknown key 'mail' in defaults.triggered_by",
        ),
        (
            MINIMAL_JOBS + "logilica:\n  domain: d\n  token: secret\n",
            "token:",
            "unknown key 'token' in logilica",
        ),
        (
            MINIMAL_JOBS + "limits:\n  deck_rate: 3\n",
            "deck_rate:",
            "unknown key 'deck_rate' in limits",
        ),
        (
            f"jobs:\n  - {PERIODIC}\n  - url: {PRESUBMIT}\n    branch: main\n",
            "branch:",
            "unknown key 'branch' in jobs[1]",
        ),
    ],
)
def test_unknown_key_reports_its_own_line(text: str, needle: str, phrase: str) -> None:
    err = assert_error(text, line_of(text, needle), phrase, "allowed:")
    assert err.line is not None and err.line > 1


# -- jobs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "jobs:\n",
        "jobs: []\n",
        "jobs: {}\n",
        f"jobs: {PERIODIC}\n",
        "jobs:\n  url: https://h/job-history/gs/b/logs/j\n",
    ],
)
def test_jobs_must_be_a_non_empty_list(text: str) -> None:
    assert_error(text, 1, "'jobs' must be a non-empty list")


def test_jobs_line_is_that_of_the_key() -> None:
    text = "limits:\n  timeout: 3\njobs: nope\n"
    assert_error(text, 3, "'jobs' must be a non-empty list")


def test_missing_url_reports_the_item_line() -> None:
    text = f"""\
    jobs:
      - {PERIODIC}
      - repo: a/b
        name: foo
    """
    assert_error(text, line_of(text, "repo: a/b"), "jobs[1]", "missing required key 'url'")


@pytest.mark.parametrize("item", ["42", "[a, b]", "null", "true"])
def test_job_item_of_the_wrong_type(item: str) -> None:
    text = f"jobs:\n  - {PERIODIC}\n  - {item}\n"
    assert_error(text, 3, "jobs[1] must be a job-history URL or a mapping")


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("https://prow.ci.openshift.org/view/gs/b/logs/j/123", "not a job-history URL"),
        (f"{PERIODIC}?buildId=nope", "is not a build ID"),
        (f"{PERIODIC}?page=2", "takes only ?buildId="),
        ("ftp://h/job-history/gs/b/logs/j", "not an http(s) URL"),
        ("https://h/job-history/gs/b/logs/a..b", "tracker file name"),
    ],
)
def test_bad_url_as_a_plain_item(url: str, phrase: str) -> None:
    text = f"jobs:\n  - {PERIODIC}\n  - {url}\n"
    assert_error(text, 3, "jobs[1]", phrase)


def test_bad_url_in_a_mapping_reports_the_url_line() -> None:
    text = """\
    jobs:
      - name: custom
        repo: a/b
        url: https://h/job-history/gs/b/logs
    """
    assert_error(text, line_of(text, "url:"), "jobs[0]", "not a job-history URL")


def test_url_must_be_a_string() -> None:
    text = "jobs:\n  - url: 5\n"
    assert_error(text, 2, "jobs[0]: url must be a string")


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        ("a/b", "not usable as a tracker file name"),
        ("../etc", "not usable as a tracker file name"),
        ("x..y", "not usable as a tracker file name"),
        ("'a\\\\b'", "not usable as a tracker file name"),
        ("'  '", "must be a non-empty string"),
        ("''", "must be a non-empty string"),
        ("5", "must be a non-empty string"),
    ],
)
def test_bad_job_name(name: str, phrase: str) -> None:
    text = f"jobs:\n  - url: {PERIODIC}\n    name: {name}\n"
    assert_error(text, 3, "jobs[0]", phrase)


def test_same_job_name_twice() -> None:
    other_bucket = PERIODIC.replace("test-platform-results", "test-platform-results-public")
    text = f"jobs:\n  - {PERIODIC}\n  - {other_bucket}\n"
    assert_error(
        text, 3, "jobs[1]", "'periodic-ci-a-b-main-daily' is listed twice", "first as jobs[0]"
    )


def test_same_name_given_explicitly_twice() -> None:
    text = f"""\
    jobs:
      - url: {PERIODIC}
        name: shared
      - url: {PRESUBMIT}
        name: shared
    """
    assert_error(text, line_of(text, PRESUBMIT), "jobs[1]", "'shared' is listed twice")


def test_same_url_twice_under_different_names() -> None:
    old_form = PERIODIC.replace("/job-history/gs/", "/job-history/")
    text = f"""\
    jobs:
      - {PERIODIC}
      - url: {old_form}/
        name: another-name
    """
    assert_error(
        text, line_of(text, "another-name") - 1, "jobs[1]", "listed twice", "uploaded twice"
    )


def test_same_job_on_other_hosts_is_not_a_duplicate_url_but_a_duplicate_name() -> None:
    text = f"jobs:\n  - {PERIODIC}\n  - url: {PERIODIC.replace(HOST, 'https://other.example')}\n"
    assert_error(text, 3, "is listed twice (first as jobs[0])")


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("defaults", MINIMAL_JOBS + "defaults:\n  repo: just-a-name\n"),
        ("jobs[0]", f"jobs:\n  - url: {PERIODIC}\n    repo: a/b/c\n"),
        ("jobs[0]", f"jobs:\n  - url: {PERIODIC}\n    repo: https://github.com/a/b\n"),
    ],
)
def test_repo_must_be_org_slash_name(where: str, text: str) -> None:
    assert_error(text, line_of(text, "repo:"), f"{where}.repo", "is not ORG/NAME")


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        (MINIMAL_JOBS + "defaults:\n  limit: -1\n", "defaults.limit must be a whole number >= 0"),
        (MINIMAL_JOBS + "defaults:\n  limit: 2.5\n", "defaults.limit must be a whole number"),
        (
            f"jobs:\n  - url: {PERIODIC}\n    limit: many\n",
            "jobs[0].limit must be a whole number >= 0",
        ),
        (f"jobs:\n  - url: {PERIODIC}\n    limit: true\n", "jobs[0].limit must be a whole number"),
    ],
)
def test_bad_limit(text: str, phrase: str) -> None:
    assert_error(text, line_of(text, "limit:"), phrase)


# -- limits:, logilica:, defaults: ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "phrase"),
    [
        ("deck_concurrency", "0", "limits.deck_concurrency must be a whole number >= 1"),
        ("deck_concurrency", "-2", "limits.deck_concurrency must be a whole number >= 1"),
        ("gcs_concurrency", "2.5", "limits.gcs_concurrency must be a whole number >= 1"),
        ("logilica_concurrency", "'4'", "must be a whole number >= 1"),
        ("batch_size", "0", "limits.batch_size must be a whole number >= 1"),
        ("batch_size", "true", "limits.batch_size must be a whole number >= 1"),
        ("deck_rps", "0", "limits.deck_rps must be a number >= 0.001"),
        ("deck_rps", "fast", "limits.deck_rps must be a number"),
        ("logilica_rps", "-1", "limits.logilica_rps must be a number"),
        ("timeout", "-1", "limits.timeout must be a number >= 0.001"),
        ("timeout", ".nan", "limits.timeout must be a number"),
        ("deck_rps", ".nan", "limits.deck_rps must be a number"),
        ("timeout", "[30]", "limits.timeout must be a number"),
        ("timeout", "{s: 1}", "limits.timeout must be a number"),
    ],
)
def test_bad_limits_values(key: str, value: str, phrase: str) -> None:
    filler = "batch_size: 10" if key != "batch_size" else "timeout: 30"
    text = f"{MINIMAL_JOBS}limits:\n  {filler}\n  {key}: {value}\n"
    assert_error(text, 5, phrase)


def test_integer_rates_and_timeouts_are_accepted() -> None:
    text = f"{MINIMAL_JOBS}limits:\n  deck_rps: 1\n  timeout: 60\n"
    limits = parse_config(text, PATH).limits
    assert (limits.deck_rps, limits.timeout) == (1, 60)


@pytest.mark.parametrize("section", ["limits", "logilica", "defaults"])
@pytest.mark.parametrize("value", ["[]", "5", "text"])
def test_sections_must_be_mappings(section: str, value: str) -> None:
    text = f"{MINIMAL_JOBS}{section}: {value}\n"
    assert_error(text, 3, f"{section} must be a mapping")


def test_triggered_by_must_be_a_mapping() -> None:
    text = f"{MINIMAL_JOBS}defaults:\n  triggered_by: bot\n"
    assert_error(text, 4, "defaults.triggered_by must be a mapping")


def test_triggered_by_name_must_not_be_empty() -> None:
    text = f"{MINIMAL_JOBS}defaults:\n  triggered_by:\n    name: ''\n"
    assert_error(text, 5, "defaults.triggered_by.name must be a non-empty string")


@pytest.mark.parametrize("api_url", ["ftp://logilica.io/api", "logilica.io/api/import/v1"])
def test_api_url_must_be_http(api_url: str) -> None:
    text = f"{MINIMAL_JOBS}logilica:\n  domain: d\n  api_url: {api_url}\n"
    assert_error(text, 5, "logilica.api_url must be an http(s) URL")


# -- load_config and single_job_config ------------------------------------------------------------


def test_load_config_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(FULL, encoding="utf-8")
    config = load_config(path)
    assert config.path == str(path)
    assert len(config.jobs) == 3


def test_load_config_errors_name_the_real_path(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(MINIMAL_JOBS + "limits:\n  timeout: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:4: ")


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "file not found" in str(info.value)


def test_load_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_bytes(b"jobs:\n  - \xff\xfe\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "cannot read the file" in str(info.value)


def test_load_config_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path)


def test_single_job_config() -> None:
    config = single_job_config(PRESUBMIT, "org/repo")
    [job] = config.jobs
    assert job.name == "pull-ci-a-b-main-e2e"
    assert job.url.presubmit
    assert (job.repo, job.limit) == ("org/repo", 50)
    assert config.limits == Limits()
    assert single_job_config(PERIODIC, None).jobs[0].repo is None


def test_single_job_config_bad_url() -> None:
    with pytest.raises(ConfigError) as info:
        single_job_config("https://h/view/gs/b/logs/j/1", None)
    assert str(info.value).startswith("--job-url")
    assert "not a job-history URL" in str(info.value)


def test_single_job_config_bad_repo() -> None:
    with pytest.raises(ConfigError, match="--repo 'nope' is not ORG/NAME"):
        single_job_config(PERIODIC, "nope")


# -- parse_duration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("50m", 3000),
        ("1h30m", 5400),
        ("90s", 90),
        ("45", 45),
        ("1h", 3600),
        (" 2M ", 120),
        ("1.5s", 1.5),
        ("1h0m5s", 3605),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0m", "abc", "5 minutes", "-5", "m", "1d"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="duration"):
        parse_duration(text)


# -- properties -----------------------------------------------------------------------------------

_yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=15),
    st.sampled_from([PERIODIC, PRESUBMIT, OLD_FORM, "a/b", "jobs", "url"]),
)
_keys = st.sampled_from(
    [
        "jobs",
        "url",
        "name",
        "repo",
        "limit",
        "defaults",
        "limits",
        "logilica",
        "timeout",
        "deck_rps",
        "batch_size",
        "triggered_by",
        "email",
        "domain",
        "api_url",
        "x",
    ]
)
_yaml_values = st.recursive(
    _yaml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)


def _check_outcome(text: str) -> None:
    try:
        config = parse_config(text, PATH)
    except ConfigError as err:
        assert str(err).startswith(PATH)
        assert err.path == PATH
        return
    assert config.jobs
    names = [job.name for job in config.jobs]
    assert len(names) == len(set(names))


@settings(max_examples=200, deadline=None)
@given(document=st.dictionaries(_keys, _yaml_values, max_size=5))
def test_parse_config_only_raises_config_error_on_structured_input(document: Any) -> None:
    _check_outcome(yaml.safe_dump(document))


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80))
def test_parse_config_only_raises_config_error_on_any_text(text: str) -> None:
    _check_outcome(text)


# -- since, and the command line against the file -------------------------------------------------


def test_since_per_job_and_in_defaults_in_every_form() -> None:
    text = (
        f"defaults:\n  since: 90d\njobs:\n  - {PERIODIC}\n"
        f"  - url: {PRESUBMIT}\n    since: 2026-05-01\n"
        f"  - url: {OLD_FORM}\n    since: 2026-05-01T12:00:00Z\n"
    )
    periodic, presubmit, old = parse_config(text, PATH).jobs
    assert periodic.since is not None and periodic.since.back == 90 * 86400
    assert presubmit.since is not None and presubmit.since.text == "2026-05-01"
    assert old.since is not None and old.since.at == 1777636800.0


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        (f"jobs:\n  - url: {PERIODIC}\n    since: 90x\n", "jobs[0].since '90x' is not a date"),
        (f"jobs:\n  - url: {PERIODIC}\n    since: [1]\n", "jobs[0].since must be a date"),
        (f"defaults:\n  since: 12\njobs:\n  - {PERIODIC}\n", "defaults.since must be a date"),
        (
            f'jobs:\n  - url: {PERIODIC}\n    since: "2026-05-01T12:00:00"\n',
            "no time zone",
        ),
    ],
)
def test_bad_since(text: str, phrase: str) -> None:
    assert_error(text, line_of(text, "since:"), phrase)


def test_the_command_line_beats_the_job_which_beats_the_defaults() -> None:
    text = (
        f"defaults:\n  limit: 7\n  discovery: gcs\n  since: 2w\njobs:\n  - {PERIODIC}\n"
        f"  - url: {PRESUBMIT}\n    limit: 3\n    discovery: deck\n    since: 1d\n"
    )
    config = parse_config(text, PATH)
    a, b = config.jobs
    assert (a.limit, a.discovery, a.since.text) == (7, "gcs", "2w")
    assert (b.limit, b.discovery, b.since.text) == (3, "deck", "1d")
    same = apply_overrides(config, Overrides())
    assert same == config
    forced = apply_overrides(config, Overrides(limit=0, discovery="auto", since="36h"))
    for job in forced.jobs:
        assert (job.limit, job.discovery, job.since.text) == (0, "auto", "36h")


@pytest.mark.parametrize(
    ("overrides", "phrase"),
    [
        (Overrides(discovery="ftp"), "--discovery 'ftp' is not one of auto, deck, gcs"),
        (Overrides(since="soon"), "--since 'soon' is not a date"),
        (Overrides(limit=-1), "--limit -1"),
    ],
)
def test_bad_overrides(overrides: Overrides, phrase: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(phrase)):
        apply_overrides(parse_config(MINIMAL_JOBS, PATH), overrides)


def test_a_horizon_in_the_future_is_refused() -> None:
    config = parse_config(f"jobs:\n  - url: {PERIODIC}\n    since: 2999-01-01\n", PATH)
    with pytest.raises(ConfigError, match="in the future"):
        check_horizons(config, time.time())
    check_horizons(parse_config(MINIMAL_JOBS, PATH), time.time())


def test_select_jobs_by_name_and_shard() -> None:
    config = parse_config(FULL, PATH)
    names = [j.name for j in config.jobs]
    picked = select_jobs(config, [names[1]], None)
    assert [j.name for j in picked.jobs] == [names[1]]
    with pytest.raises(ConfigError, match="--job nope: not in the file"):
        select_jobs(config, ["nope"], None)
    shards = [select_jobs(config, None, f"{i}/2").jobs for i in range(2)]
    assert sorted(j.name for s in shards for j in s) == sorted(names)
    with pytest.raises(ConfigError, match="--shard"):
        select_jobs(config, None, "2/2")


def test_stages_per_job_and_in_defaults() -> None:
    text = (
        f"defaults:\n  stages: build\njobs:\n  - {PERIODIC}\n"
        f"  - url: {PRESUBMIT}\n    stages: steps\n"
    )
    a, b = parse_config(text, PATH).jobs
    assert (a.stages, b.stages) == ("build", "steps")
    assert parse_config(MINIMAL_JOBS, PATH).jobs[0].stages == "steps"
    bad = f"jobs:\n  - url: {PERIODIC}\n    stages: pods\n"
    assert_error(bad, line_of(bad, "stages:"), "jobs[0].stages 'pods' is not one of steps, build")


# -- output: where the metrics go -----------------------------------------------------------------


def test_output_section_and_the_flags_that_beat_it() -> None:
    text = (
        MINIMAL_JOBS + "output:\n  metrics_file: /var/lib/m.prom\n  pushgateway: http://pg:9091\n"
    )
    config = parse_config(text, PATH)
    assert config.output == OutputSettings(Path("/var/lib/m.prom"), "http://pg:9091")
    flagged = apply_overrides(config, Overrides(metrics_file=Path("x.prom")))
    assert flagged.output == OutputSettings(Path("x.prom"), "http://pg:9091")
    flagged = apply_overrides(config, Overrides(pushgateway="https://other:9091"))
    assert flagged.output == OutputSettings(Path("/var/lib/m.prom"), "https://other:9091")
    assert parse_config(MINIMAL_JOBS, PATH).output == OutputSettings()


def test_a_pushgateway_that_is_no_url_is_refused_without_showing_credentials() -> None:
    text = MINIMAL_JOBS + "output:\n  pushgateway: admin:s3cret@pg:9091\n"
    err = assert_error(text, line_of(text, "pushgateway"), "output.pushgateway", "http(s) URL")
    assert "s3cret" not in str(err)
    with pytest.raises(ConfigError, match="--pushgateway"):
        apply_overrides(parse_config(MINIMAL_JOBS, PATH), Overrides(pushgateway="pg:9091"))
    assert_error(MINIMAL_JOBS + "output:\n  metrics: x\n", 4, "unknown key 'metrics'")


def test_the_event_loop_choice_is_checked_before_anything_runs(monkeypatch) -> None:
    assert loop_from_env({}) == "auto"
    assert loop_from_env({"PROW_CRAWLER_LOOP": " AsyncIO "}) == "asyncio"
    with pytest.raises(ConfigError, match="not one of auto, asyncio, uvloop"):
        loop_from_env({"PROW_CRAWLER_LOOP": "trio"})
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="uvloop is not installed"):
        loop_from_env({"PROW_CRAWLER_LOOP": "uvloop"})
    assert loop_from_env({"PROW_CRAWLER_LOOP": "auto"}) == "auto"
