"""crawler.core.horizon: `since` values, and the times hidden in snowflake build IDs."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.core.horizon import (
    Horizon,
    SinceError,
    build_started,
    first_id_at,
    parse_since,
    snowflake_seconds,
)


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize(
    ("build_id", "minted"),
    [
        # Checked against deck: Started 13:38:24Z and 16:57:31Z (the pod starts a bit later).
        (1691081796252340224, "2023-08-14T13:38:13.664Z"),
        (1468625788839399424, "2021-12-08T16:57:28.464Z"),
    ],
)
def test_snowflake_times_of_real_builds(build_id: int, minted: str) -> None:
    assert snowflake_seconds(build_id) == pytest.approx(ts(minted), abs=0.001)


def test_small_ids_carry_no_time() -> None:
    assert snowflake_seconds(16) is None
    assert build_started(16) is None
    assert build_started(16, 1519898400) == 1519898400
    assert build_started(1691081796252340224, 5) == pytest.approx(ts("2023-08-14T13:38:13.664Z"))


@given(st.floats(min_value=ts("2015-01-01T00:00:00Z"), max_value=ts("2090-01-01T00:00:00Z")))
def test_first_id_at_is_the_bound_of_that_moment(at: float) -> None:
    bound = first_id_at(at)
    assert snowflake_seconds(bound) >= at - 0.001
    assert snowflake_seconds(bound - 1) < at  # the ID just below was minted earlier


@pytest.mark.parametrize(
    ("text", "at", "back"),
    [
        ("2026-05-01", ts("2026-05-01T00:00:00Z"), None),
        ("2026-05-01T12:30:00Z", ts("2026-05-01T12:30:00Z"), None),
        ("2026-05-01t12:30:00z", ts("2026-05-01T12:30:00Z"), None),
        ("2026-05-01T12:30:00+02:00", ts("2026-05-01T10:30:00Z"), None),
        ("2026-05-01T12:30:00.123456789Z", ts("2026-05-01T12:30:00.123456Z"), None),
        ("90d", None, 90 * 86400.0),
        ("36h", None, 36 * 3600.0),
        ("2w", None, 14 * 86400.0),
        ("1w3d", None, 10 * 86400.0),
        (" 45m ", None, 2700.0),
    ],
)
def test_parse_since(text: str, at: float | None, back: float | None) -> None:
    since = parse_since(text)
    assert since.at == at and since.back == back
    assert since.text == text.strip()


@pytest.mark.parametrize(
    "text",
    ["", "yesterday", "90", "90x", "-2d", "0d", "2026-02-30", "2026-05-01T12:00:00", "d90", "2d x"],
)
def test_bad_since_says_which_forms_work(text: str) -> None:
    with pytest.raises(SinceError) as info:
        parse_since(text)
    assert "since" in str(info.value)
    assert repr(text) in str(info.value) or text.strip() in str(info.value)


def test_a_duration_counts_back_from_each_run() -> None:
    since = parse_since("2d")
    assert since.resolve(1_000_000.0).at == 1_000_000.0 - 2 * 86400
    assert since.resolve(2_000_000.0).at == 2_000_000.0 - 2 * 86400
    fixed = parse_since("2026-05-01")
    assert fixed.resolve(0).at == fixed.resolve(10**10).at


def test_horizon_excludes_by_id_or_by_started_time() -> None:
    horizon = Horizon(at=ts("2023-08-14T00:00:00Z"), text="2023-08-14")
    assert not horizon.excludes(1691081796252340224, None)  # minted later that day
    assert horizon.excludes(1468625788839399424, None)  # 2021
    assert horizon.excludes(16, int(ts("2018-03-01T00:00:00Z")))
    assert not horizon.excludes(16, int(ts("2024-01-01T00:00:00Z")))
    assert not horizon.excludes(16, None)  # no time known: not left out
    assert horizon.describe() == "2023-08-14T00:00:00Z"
    assert Horizon(at=0, text="2d").describe() == "2d (1970-01-01T00:00:00Z)"
