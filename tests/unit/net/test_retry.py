"""crawler.net.retry: Retry-After, the backoff, the retry wrapper and the give-up rules."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Generator
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crawler.net.retry as retry
from crawler.core.errors import RemoteError
from crawler.net.limits import HostGate
from crawler.net.retry import (
    BACKOFF_CAP,
    DECODE_TRIES,
    MAX_TRIES,
    RETRY_AFTER_CAP,
    DecodeBudget,
    RetryStats,
    TransientError,
    classify_status,
    deck_says_no,
    give_up,
    parse_retry_after,
    permanent,
    retrying,
    send_one_by_one,
    with_retries,
)
from tests.unit.conftest import FakeClock

# -- parse_retry_after ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 0.0),
        ("", 0.0),
        ("0", 0.0),
        ("7", 7.0),
        ("  120 ", 120.0),
        ("86400", 86400.0),
        ("1.5", 0.0),  # not a valid delta-seconds
        ("-3", 0.0),
        ("soon", 0.0),
        ("Mon, 99 Foo 2020", 0.0),
        ("\u00b2", 0.0),  # str.isdigit() is true for superscript two; float() is not
        ("\u0663", 0.0),  # Arabic-Indic three: not HTTP's DIGIT
    ],
)
def test_parse_retry_after_delta_seconds_and_garbage(value: str | None, expected: float) -> None:
    assert parse_retry_after(value, now=0.0) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_445_412_400.0  # 80 s before the date below
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == pytest.approx(80.0)


def test_parse_retry_after_http_date_in_the_past_is_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=2_000_000_000.0) == 0.0


def test_parse_retry_after_http_date_against_the_wall_clock() -> None:
    when = email.utils.formatdate(time.time() + 3600, usegmt=True)
    assert 3500 <= parse_retry_after(when) <= 3601


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.text(max_size=40), st.from_regex(r"\s*[0-9]{1,6}\s*", fullmatch=True)))
def test_parse_retry_after_never_raises(value: str) -> None:
    seconds = parse_retry_after(value, now=1_700_000_000.0)
    assert isinstance(seconds, float)
    assert seconds >= 0.0


@pytest.fixture
def no_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """uniform(0, x) -> x: the backoff waits at their upper bound, deterministically."""
    monkeypatch.setattr(retry, "random", SimpleNamespace(uniform=lambda _a, b: b))


def test_wait_gen_is_capped_exponential(no_jitter: None) -> None:
    gen = retry._wait_gen()
    assert gen.send(None) == 0.0
    err = TransientError("x")
    waits = [gen.send(err) for _ in range(10)]
    assert waits[:6] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    assert waits[6:] == [BACKOFF_CAP] * 4


def test_wait_gen_honours_retry_after(no_jitter: None) -> None:
    gen = retry._wait_gen()
    gen.send(None)
    assert gen.send(TransientError("429", status=429, retry_after=10.0)) == 10.0
    assert gen.send(TransientError("503")) == 1.0
    # A Retry-After shorter than the backoff does not shorten it.
    assert gen.send(TransientError("429", retry_after=0.5)) == 2.0
    # Exceptions that are not ours carry no Retry-After.
    assert gen.send(ValueError("x")) == 4.0


def test_wait_gen_jitter_stays_within_bounds() -> None:
    gen = retry._wait_gen()
    gen.send(None)
    for attempt in range(12):
        wait = gen.send(TransientError("x", retry_after=0.25))
        assert 0.25 <= wait <= max(0.25, min(BACKOFF_CAP, 0.5 * 2**attempt))


class Flaky:
    """Fails with the given exceptions, then returns 'ok'; counts calls."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_with_retries_retries_transient_errors(fast_retries: None) -> None:
    func = Flaky(TransientError("503", status=503), TransientError("timeout"))
    stats = RetryStats()
    assert await with_retries(func, stats=stats) == "ok"
    assert func.calls == 3
    assert stats.retries == 2


async def test_with_retries_gives_up_after_max_tries(fast_retries: None) -> None:
    func = Flaky(*(TransientError(f"try {n}", status=503) for n in range(20)))
    stats = RetryStats()
    with pytest.raises(TransientError, match="try 6"):
        await with_retries(func, stats=stats)
    assert MAX_TRIES == 7
    assert func.calls == MAX_TRIES
    assert stats.retries == MAX_TRIES - 1


async def test_with_retries_custom_tries(fast_retries: None) -> None:
    func = Flaky(*(TransientError("x") for _ in range(5)))
    with pytest.raises(TransientError):
        await with_retries(func, tries=2)
    assert func.calls == 2


async def test_with_retries_does_not_retry_other_errors(fast_retries: None) -> None:
    func = Flaky(ValueError("permanent"))
    stats = RetryStats()
    with pytest.raises(ValueError, match="permanent"):
        await with_retries(func, stats=stats)
    assert func.calls == 1
    assert stats.retries == 0


async def test_with_retries_waits_for_retry_after(
    fast_retries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    original = retry._wait_gen

    def recording_wait_gen() -> Generator[float, Any, None]:
        gen = original()
        value = gen.send(None)
        while True:
            exc = yield value
            value = gen.send(exc)
            waits.append(value)

    monkeypatch.setattr(retry, "_wait_gen", recording_wait_gen)
    func = Flaky(
        TransientError("429", status=429, retry_after=0.08),
        TransientError("429", status=429, retry_after=0.08),
    )
    start = time.monotonic()
    assert await with_retries(func) == "ok"
    assert time.monotonic() - start >= 0.15
    assert waits == [0.08, 0.08]


# -- classify_status ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 204, 301, 400, 401, 403, 404, 409, 422, 501])
def test_classify_status_not_retryable(status: int) -> None:
    assert classify_status(status, {}, None, "x") is None


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_classify_status_retryable(status: int, clock: FakeClock) -> None:
    gate = HostGate("h", 1)
    err = classify_status(status, {}, gate, "GET x")
    assert isinstance(err, TransientError)
    assert err.status == status
    assert err.retry_after == 0.0
    assert str(err) == f"GET x: HTTP {status}"
    assert gate._paused_until == 0.0


async def test_classify_status_pauses_the_gate(clock: FakeClock) -> None:
    gate = HostGate("h", 1)
    err = classify_status(429, {"Retry-After": "30"}, gate, "x")
    assert err is not None and err.retry_after == 30.0
    start = clock.now
    async with gate.slot():
        assert clock.now - start >= 30.0


def test_classify_status_caps_retry_after(clock: FakeClock) -> None:
    gate = HostGate("h", 1)
    err = classify_status(503, {"Retry-After": "86400"}, gate, "x")
    assert err is not None and err.retry_after == RETRY_AFTER_CAP
    assert gate._paused_until == pytest.approx(clock.now + RETRY_AFTER_CAP)


async def test_with_retries_accepts_any_callable_returning_an_awaitable(
    fast_retries: None,
) -> None:
    """Not just `async def` functions: backoff alone would not retry a lambda or an object."""
    func = Flaky(TransientError("x"), TransientError("y"))
    assert await with_retries(lambda: func()) == "ok"
    assert func.calls == 3


# -- the give-up rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "final"),
    [(None, False), (200, False), (400, True), (401, True), (404, True), (408, False),
     (422, True), (429, False), (500, False), (503, False)],
)  # fmt: skip
def test_permanent_is_a_4xx_that_is_not_retryable(status: int | None, final: bool) -> None:
    assert permanent(status) is final
    err = give_up("x", status)
    assert isinstance(err, RemoteError) and err.permanent is final and err.status == status


def test_deck_saying_no_is_final_other_500s_are_not() -> None:
    assert deck_says_no(500, b"failed to get job history: failed to locate build data")
    assert deck_says_no(500, b"\n  failed to get job history: bucket not allowed")
    assert not deck_says_no(500, b"<html>Internal Server Error</html>")
    assert not deck_says_no(503, b"failed to get job history: x")


def test_refused_batches_go_one_by_one_only_when_the_refusal_is_final() -> None:
    assert send_one_by_one(give_up("422", 422), 5)
    assert not send_one_by_one(give_up("422", 422), 1)
    assert not send_one_by_one(give_up("503 (gave up after retries)", 503), 5)


def test_decode_budget_allows_decode_tries_reads_in_all() -> None:
    stats = RetryStats()
    budget = DecodeBudget(stats)
    for _ in range(DECODE_TRIES - 1):
        budget.spend(ValueError("not JSON"))
    with pytest.raises(ValueError, match="not JSON"):
        budget.spend(ValueError("not JSON"))
    assert stats.retries == DECODE_TRIES - 1


async def test_retrying_names_the_last_failure_when_it_gives_up(fast_retries: None) -> None:
    func = Flaky(*(TransientError(f"GET x: HTTP 503 #{n}", status=503) for n in range(9)))
    with pytest.raises(RemoteError) as info:
        await retrying(func)
    assert str(info.value) == "GET x: HTTP 503 #6 (gave up after retries)"
    assert info.value.status == 503 and not info.value.permanent
    assert func.calls == MAX_TRIES
    assert await retrying(Flaky(TransientError("x"))) == "ok"
