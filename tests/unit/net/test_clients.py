"""crawler.net.http, crawler.prow.gcs and crawler.logilica.client against mocked HTTP
(aioresponses).

The `http_mock` fixture (conftest.py) carries the aiohttp 3.14 compatibility shim.
"""

from __future__ import annotations

import gzip
import json
import time
import traceback
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aioresponses import aioresponses
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from crawler.core.errors import RemoteError
from crawler.logilica.client import LogilicaClient, Secret
from crawler.net.http import MAX_REDIRECTS, BodyTooLarge, Response, exchange
from crawler.net.limits import HostGate
from crawler.net.retry import DECODE_TRIES, MAX_TRIES, RetryStats
from crawler.prow.gcs import GcsReader, _segment, decode_object
from crawler.settings.config import PUBLIC_API_ROOT, api_root_from_env


def calls(mock: aioresponses, method: str, url: str) -> list[Any]:
    """Requests aioresponses saw for one method and exact URL."""
    return mock.requests.get((method, URL(url)), [])


def total_calls(mock: aioresponses) -> int:
    return sum(len(c) for c in mock.requests.values())


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


# == crawler.net.http.exchange ====================================================================

DECK = "https://deck.test"
PAGE = f"{DECK}/job-history/gs/b/logs/j"


async def get(
    session: aiohttp.ClientSession,
    url: str = PAGE,
    *,
    gate: HostGate | None = None,
    cap: int = 1 << 20,
    stats: RetryStats | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return await exchange(
        session,
        gate or HostGate("deck", 4),
        "GET",
        url,
        what="deck page",
        cap=cap,
        timeout=5,
        headers=headers,
        stats=stats,
    )


async def test_exchange_returns_the_answer(
    http_mock: aioresponses, session: aiohttp.ClientSession
) -> None:
    http_mock.get(PAGE, status=200, body=b"<html>hi</html>", headers={"X-Test": "1"})
    gate = HostGate("deck", 4)
    resp = await get(session, gate=gate, headers={"Accept": "text/html"})
    assert resp.status == 200
    assert resp.body == b"<html>hi</html>"
    assert resp.headers["X-Test"] == "1"
    [call] = calls(http_mock, "GET", PAGE)
    assert call.kwargs["headers"] == {"Accept": "text/html"}
    assert call.kwargs["allow_redirects"] is False
    assert gate.requests == 1


async def test_exchange_posts_json(http_mock: aioresponses, session: aiohttp.ClientSession) -> None:
    url = f"{DECK}/api"
    http_mock.post(url, status=201, body=b"{}")
    resp = await exchange(
        session,
        HostGate("x", 1),
        "POST",
        url,
        what="post",
        cap=100,
        timeout=5,
        json_body=[{"a": 1}],
    )
    assert resp.status == 201
    sent = calls(http_mock, "POST", url)[0].kwargs
    assert json.loads(sent["data"]) == [{"a": 1}]
    assert sent["headers"]["Content-Type"] == "application/json"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 408])
async def test_exchange_retries_retryable_statuses(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None, status: int
) -> None:
    http_mock.get(PAGE, status=status, body=b"busy")
    http_mock.get(PAGE, status=200, body=b"ok")
    stats = RetryStats()
    resp = await get(session, stats=stats)
    assert (resp.status, resp.body) == (200, b"ok")
    assert len(calls(http_mock, "GET", PAGE)) == 2
    assert stats.retries == 1


@pytest.mark.parametrize(
    "error",
    [
        aiohttp.ClientConnectionError("connection refused"),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("cut short"),
        TimeoutError(),
    ],
)
async def test_exchange_retries_connection_errors(
    http_mock: aioresponses,
    session: aiohttp.ClientSession,
    fast_retries: None,
    error: BaseException,
) -> None:
    http_mock.get(PAGE, exception=error)
    http_mock.get(PAGE, exception=error)
    http_mock.get(PAGE, status=200, body=b"ok")
    stats = RetryStats()
    assert (await get(session, stats=stats)).body == b"ok"
    assert len(calls(http_mock, "GET", PAGE)) == 3
    assert stats.retries == 2


async def test_exchange_gives_up_after_max_tries(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None
) -> None:
    http_mock.get(PAGE, status=503, repeat=True)
    with pytest.raises(RemoteError) as info:
        await get(session)
    err = info.value
    assert "deck page: HTTP 503" in str(err)
    assert "gave up after retries" in str(err)
    assert err.status == 503
    assert err.permanent is False
    assert len(calls(http_mock, "GET", PAGE)) == MAX_TRIES


async def test_exchange_gives_up_on_connection_errors(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None
) -> None:
    http_mock.get(PAGE, exception=aiohttp.ClientConnectionError("refused"), repeat=True)
    with pytest.raises(RemoteError, match="refused") as info:
        await get(session)
    assert info.value.status is None
    assert not info.value.permanent
    assert len(calls(http_mock, "GET", PAGE)) == MAX_TRIES


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 422, 501])
async def test_exchange_does_not_retry_other_statuses(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None, status: int
) -> None:
    http_mock.get(PAGE, status=status, body=b"nope")
    http_mock.get(PAGE, status=200, body=b"never asked for")
    resp = await get(session)
    assert (resp.status, resp.body) == (status, b"nope")
    assert len(calls(http_mock, "GET", PAGE)) == 1


async def test_exchange_honours_retry_after(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None
) -> None:
    http_mock.get(PAGE, status=429, headers={"Retry-After": "1"})
    http_mock.get(PAGE, status=200, body=b"ok")
    start = time.monotonic()
    assert (await get(session)).body == b"ok"
    # The backoff itself is 0 here (fast_retries): only Retry-After can explain the wait.
    assert time.monotonic() - start >= 0.9


async def test_exchange_size_cap_while_streaming(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None
) -> None:
    http_mock.get(PAGE, status=200, body=b"x" * 1001, repeat=True)
    with pytest.raises(BodyTooLarge, match="1000-byte cap") as info:
        await get(session, cap=1000)
    assert info.value.permanent
    assert len(calls(http_mock, "GET", PAGE)) == 1  # not retried


async def test_exchange_size_cap_from_content_length(
    http_mock: aioresponses, session: aiohttp.ClientSession
) -> None:
    http_mock.get(PAGE, status=200, body=b"{}", headers={"Content-Length": "50000000"})
    with pytest.raises(BodyTooLarge, match="50000000 bytes"):
        await get(session, cap=1000)


async def test_exchange_body_at_the_cap_is_fine(
    http_mock: aioresponses, session: aiohttp.ClientSession
) -> None:
    http_mock.get(PAGE, status=200, body=b"y" * 1000)
    assert len((await get(session, cap=1000)).body) == 1000


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_exchange_follows_same_host_redirects(
    http_mock: aioresponses, session: aiohttp.ClientSession, status: int
) -> None:
    target = f"{DECK}/job-history/gs/b/logs/j2"
    http_mock.get(PAGE, status=status, headers={"Location": "/job-history/gs/b/logs/j2"})
    http_mock.get(target, status=200, body=b"moved")
    resp = await get(session, headers={"X-lgca-token": "t"})
    assert resp.body == b"moved"
    assert calls(http_mock, "GET", target)[0].kwargs["headers"] == {"X-lgca-token": "t"}


@pytest.mark.parametrize(
    "location",
    [
        "https://evil.test/steal",
        "//evil.test/steal",
        "http://deck.test/job-history/gs/b/logs/j",  # same host, weaker scheme
        "https://deck.test:8443/job-history/gs/b/logs/j",  # same host, other port
    ],
)
async def test_exchange_refuses_cross_host_redirects(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None, location: str
) -> None:
    http_mock.get(PAGE, status=302, headers={"Location": location})
    http_mock.get(location if "://" in location else f"https:{location}", status=200)
    with pytest.raises(RemoteError, match="redirected to another host") as info:
        await get(session, headers={"X-lgca-token": "secret-token"})
    assert "secret-token" not in str(info.value)
    assert total_calls(http_mock) == 1


async def test_exchange_stops_after_too_many_redirects(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None
) -> None:
    http_mock.get(PAGE, status=302, headers={"Location": PAGE}, repeat=True)
    with pytest.raises(RemoteError, match=f"more than {MAX_REDIRECTS} redirects"):
        await get(session)
    assert len(calls(http_mock, "GET", PAGE)) == MAX_REDIRECTS + 1


# == crawler.prow.gcs =============================================================================

GCS = "http://gcs.test"
BUCKET = "test-platform-results"
OBJECT = "pr-logs/pull/org_repo/12/pull-ci-x/1950119109857382400/finished.json"
OBJECT_URL = f"{GCS}/storage/v1/b/{BUCKET}/o/{quote(OBJECT, safe='')}?alt=media"
FINISHED = {"timestamp": 1753865012, "passed": True, "result": "SUCCESS"}


@given(st.text(max_size=80) | st.text(alphabet="abcXYZ019_.~/-%", max_size=80))
def test_object_names_are_encoded_as_quote_encodes_them(name: str) -> None:
    # The fast path for URL-safe names must give exactly what quote(..., safe="") gives.
    assert _segment(name) == quote(name, safe="")


def test_decode_plain_json() -> None:
    assert decode_object(json.dumps(FINISHED).encode(), 1000, "x") == FINISHED


def test_decode_gzip_json_by_magic_bytes() -> None:
    data = gzip.compress(json.dumps(FINISHED).encode())
    assert data[:2] == b"\x1f\x8b"
    assert decode_object(data, 1000, "x") == FINISHED


def test_decode_gzip_exactly_at_the_cap() -> None:
    body = b'"' + b"a" * 998 + b'"'
    assert len(body) == 1000
    assert decode_object(gzip.compress(body), 1000, "x") == "a" * 998


def test_decode_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(b"[" + b" " * 10_000_000 + b"]")
    assert len(bomb) < 20_000
    with pytest.raises(ValueError, match="decompresses to more than 1000 bytes"):
        decode_object(bomb, 1000, "gs://b/x")


def test_decode_one_byte_over_the_cap() -> None:
    body = b'"' + b"a" * 999 + b'"'
    with pytest.raises(ValueError, match="more than 1000 bytes"):
        decode_object(gzip.compress(body), 1000, "x")


def test_decode_corrupt_gzip() -> None:
    with pytest.raises(ValueError, match="gs://b/o: corrupt gzip"):
        decode_object(b"\x1f\x8b\x08\x00garbage-not-deflate", 1000, "gs://b/o")


def test_decode_truncated_gzip() -> None:
    data = gzip.compress(json.dumps({"k": "v" * 200}).encode())
    with pytest.raises(ValueError, match="gs://b/o"):
        decode_object(data[: len(data) // 2], 10_000, "gs://b/o")


@pytest.mark.parametrize("data", [b"", b"<html>", b"{'a': 1}", b"\xff\xfe\xfd", b"\x80abc"])
def test_decode_not_json(data: bytes) -> None:
    with pytest.raises(ValueError, match="gs://b/o"):
        decode_object(data, 1000, "gs://b/o")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, PUBLIC_API_ROOT),
        ({"STORAGE_EMULATOR_HOST": ""}, PUBLIC_API_ROOT),
        ({"STORAGE_EMULATOR_HOST": "  "}, PUBLIC_API_ROOT),
        ({"STORAGE_EMULATOR_HOST": "127.0.0.1:9023"}, "http://127.0.0.1:9023"),
        ({"STORAGE_EMULATOR_HOST": "http://127.0.0.1:9023"}, "http://127.0.0.1:9023"),
        ({"STORAGE_EMULATOR_HOST": "https://gcs.local"}, "https://gcs.local"),
    ],
)
def test_api_root_from_env(env: dict[str, str], expected: str) -> None:
    assert api_root_from_env(env) == expected


def reader(
    session: aiohttp.ClientSession, *, max_bytes: int = 1 << 20, stats: RetryStats | None = None
) -> GcsReader:
    return GcsReader(
        session, HostGate("gcs", 8), api_root=GCS, timeout=5, max_bytes=max_bytes, stats=stats
    )


async def test_read_json_plain(http_mock: aioresponses, session: aiohttp.ClientSession) -> None:
    http_mock.get(OBJECT_URL, status=200, body=json.dumps(FINISHED))
    assert await reader(session).read_json(BUCKET, OBJECT) == FINISHED
    [call] = calls(http_mock, "GET", OBJECT_URL)
    # Anonymous reads: no credentials of any kind are sent.
    assert "Authorization" not in (call.kwargs.get("headers") or {})


async def test_read_json_gzip_stored(
    http_mock: aioresponses, session: aiohttp.ClientSession
) -> None:
    http_mock.get(
        OBJECT_URL,
        status=200,
        body=gzip.compress(json.dumps(FINISHED).encode()),
        content_type="application/octet-stream",
    )
    assert await reader(session).read_json(BUCKET, OBJECT) == FINISHED


async def test_read_json_404_is_none(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None
) -> None:
    http_mock.get(OBJECT_URL, status=404, body="No such object", repeat=True)
    assert await reader(session).read_json(BUCKET, OBJECT) is None
    assert len(calls(http_mock, "GET", OBJECT_URL)) == 1


async def test_read_json_retries_503(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None
) -> None:
    http_mock.get(OBJECT_URL, status=503, body="backend error")
    http_mock.get(OBJECT_URL, status=200, body=json.dumps(FINISHED))
    stats = RetryStats()
    assert await reader(session, stats=stats).read_json(BUCKET, OBJECT) == FINISHED
    assert len(calls(http_mock, "GET", OBJECT_URL)) == 2
    assert stats.retries == 1


async def test_read_json_retries_connection_errors(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None
) -> None:
    http_mock.get(OBJECT_URL, exception=aiohttp.ClientConnectionError("reset"))
    http_mock.get(OBJECT_URL, status=200, body=json.dumps(FINISHED))
    assert await reader(session).read_json(BUCKET, OBJECT) == FINISHED


async def test_read_json_gives_up_on_503(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None
) -> None:
    http_mock.get(OBJECT_URL, status=503, repeat=True)
    with pytest.raises(RemoteError, match="gave up after retries") as info:
        await reader(session).read_json(BUCKET, OBJECT)
    assert info.value.status == 503
    assert not info.value.permanent
    assert len(calls(http_mock, "GET", OBJECT_URL)) == MAX_TRIES


async def test_read_json_403_is_permanent(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None
) -> None:
    http_mock.get(OBJECT_URL, status=403, body="denied", repeat=True)
    with pytest.raises(RemoteError, match="HTTP 403") as info:
        await reader(session).read_json(BUCKET, OBJECT)
    assert info.value.permanent
    assert len(calls(http_mock, "GET", OBJECT_URL)) == 1


async def test_read_json_size_cap(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None
) -> None:
    http_mock.get(OBJECT_URL, status=200, body=b"[" + b"1," * 500 + b"1]", repeat=True)
    with pytest.raises(BodyTooLarge):
        await reader(session, max_bytes=100).read_json(BUCKET, OBJECT)
    assert len(calls(http_mock, "GET", OBJECT_URL)) == 1


async def test_read_json_retries_a_body_cut_short_once(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None
) -> None:
    good = gzip.compress(json.dumps(FINISHED).encode())
    http_mock.get(OBJECT_URL, status=200, body=good[:12])
    http_mock.get(OBJECT_URL, status=200, body=good)
    assert await reader(session).read_json(BUCKET, OBJECT) == FINISHED
    assert len(calls(http_mock, "GET", OBJECT_URL)) == 2


async def test_read_json_corrupt_object_fails_after_a_few_tries(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None
) -> None:
    http_mock.get(OBJECT_URL, status=200, body=b"\x1f\x8bnot gzip at all", repeat=True)
    with pytest.raises(ValueError, match="corrupt gzip"):
        await reader(session).read_json(BUCKET, OBJECT)
    assert len(calls(http_mock, "GET", OBJECT_URL)) == DECODE_TRIES


# == crawler.logilica.client ======================================================================

API = "https://logilica.test/api/import/v1"
TOKEN = "lgca-TOKEN-0123456789abcdefghijklmnopqrstuv"
DOMAIN = "redhat"


def client(
    session: aiohttp.ClientSession, api_url: str = API, stats: RetryStats | None = None
) -> LogilicaClient:
    return LogilicaClient(
        session,
        HostGate("logilica", 2),
        api_url=api_url,
        token=Secret(TOKEN),
        domain=DOMAIN,
        timeout=5,
        stats=stats,
    )


def assert_no_token(err: BaseException) -> None:
    """Not in the message, the repr or a formatted traceback, not even in part."""
    rendered = [str(err), repr(err), "".join(traceback.format_exception(err))]
    for text in rendered:
        assert TOKEN not in text
        assert TOKEN[:12] not in text


@pytest.mark.parametrize(
    "render",
    [
        str,
        repr,
        "{}".format,
        "{!r}".format,
        lambda s: f"{s}",
        lambda s: "%s" % (s,),  # noqa: UP031
        lambda s: repr([s]),
        lambda s: str({"token": s}),
    ],
)
def test_secret_never_shows_its_value(render: Any) -> None:
    secret = Secret(TOKEN)
    text = render(secret)
    assert TOKEN not in text
    assert "***" in text
    assert secret.reveal() == TOKEN


def test_secret_has_no_instance_dict() -> None:
    secret = Secret(TOKEN)
    with pytest.raises(TypeError):
        vars(secret)


async def test_client_repr_does_not_show_the_token(session: aiohttp.ClientSession) -> None:
    c = client(session)
    assert TOKEN not in repr(c)
    assert TOKEN not in repr(vars(c))


async def test_repositories_sends_headers_and_maps_names(
    http_mock: aioresponses, session: aiohttp.ClientSession
) -> None:
    url = f"{API}/repositories"
    http_mock.get(
        url,
        status=200,
        payload=[
            {"id": 11, "name": "Codeready-Toolchain/Toolchain-E2E", "url": "x"},
            {"id": "r-2", "name": "openshift/origin"},
            {"name": "no-id/repo"},
            {"id": 3},
            "garbage",
        ],
    )
    repos = await client(session).repositories()
    assert repos == {"codeready-toolchain/toolchain-e2e": "11", "openshift/origin": "r-2"}
    [call] = calls(http_mock, "GET", url)
    assert call.kwargs["headers"] == {"X-lgca-token": TOKEN, "x-lgca-domain": DOMAIN}


async def test_repositories_accepts_a_wrapped_list_and_a_trailing_slash(
    http_mock: aioresponses, session: aiohttp.ClientSession
) -> None:
    payload = {"repositories": [{"id": 1, "name": "a/b"}]}
    http_mock.get(f"{API}/repositories", status=200, payload=payload)
    assert await client(session, api_url=API + "/").repositories() == {"a/b": "1"}


@pytest.mark.parametrize(
    ("status", "body", "phrase"),
    [
        (401, TOKEN, "HTTP 401 (check LOGILICA_TOKEN and LOGILICA_DOMAIN)"),
        (403, "forbidden", "HTTP 403 (check LOGILICA_TOKEN"),
        (404, "", "HTTP 404"),
        (200, '{"repos": []}', "not a list"),
        (200, "42", "not a list"),
    ],
)
async def test_repositories_errors(
    http_mock: aioresponses, session: aiohttp.ClientSession, status: int, body: str, phrase: str
) -> None:
    http_mock.get(f"{API}/repositories", status=status, body=body)
    with pytest.raises(RemoteError, match=phrase.replace("(", r"\(").replace(")", r"\)")) as info:
        await client(session).repositories()
    assert_no_token(info.value)


async def test_repositories_read_again_when_the_answer_is_not_json(
    http_mock: aioresponses, session: aiohttp.ClientSession
) -> None:
    url = f"{API}/repositories"
    http_mock.get(url, status=200, body='[{"id": 1, "na')  # cut short on the way
    http_mock.get(url, status=200, payload=[{"id": 1, "name": "a/b"}])
    stats = RetryStats()
    assert await client(session, stats=stats).repositories() == {"a/b": "1"}
    assert len(calls(http_mock, "GET", url)) == 2
    assert stats.retries == 1


async def test_repositories_never_json_fails_after_the_decode_tries(
    http_mock: aioresponses, session: aiohttp.ClientSession
) -> None:
    url = f"{API}/repositories"
    http_mock.get(url, status=200, body="<html>login</html>", repeat=True)
    with pytest.raises(RemoteError, match="answer is not JSON") as info:
        await client(session).repositories()
    assert len(calls(http_mock, "GET", url)) == DECODE_TRIES
    assert_no_token(info.value)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_create_builds_posts_the_array(
    http_mock: aioresponses, session: aiohttp.ClientSession, status: int
) -> None:
    url = f"{API}/ci_build/repo-7/create"
    http_mock.post(url, status=status, body="")
    builds = [{"originalID": "1"}, {"originalID": "2"}]
    await client(session).create_builds("repo-7", builds)
    [call] = calls(http_mock, "POST", url)
    assert json.loads(call.kwargs["data"]) == builds
    assert call.kwargs["headers"] == {
        "X-lgca-token": TOKEN,
        "x-lgca-domain": DOMAIN,
        "Content-Type": "application/json",
    }


async def test_create_builds_quotes_the_repo_id(
    http_mock: aioresponses, session: aiohttp.ClientSession
) -> None:
    url = f"{API}/ci_build/a%2F..%2Fb/create"
    http_mock.post(url, status=200)
    await client(session).create_builds("a/../b", [])
    assert len(calls(http_mock, "POST", url)) == 1


async def test_create_builds_rejection_hides_an_echoed_token(
    http_mock: aioresponses, session: aiohttp.ClientSession
) -> None:
    http_mock.post(f"{API}/ci_build/r/create", status=400, body=f'{{"error": "bad token {TOKEN}"}}')
    with pytest.raises(RemoteError, match="Logilica rejected the upload: HTTP 400") as info:
        await client(session).create_builds("r", [{}])
    assert "***" in str(info.value)
    assert "bad token" in str(info.value)
    assert info.value.permanent
    assert_no_token(info.value)


async def test_create_builds_rejection_hides_a_token_cut_by_the_excerpt(
    http_mock: aioresponses, session: aiohttp.ClientSession
) -> None:
    """The token straddling the 300-byte excerpt must not leak its first half."""
    http_mock.post(f"{API}/ci_build/r/create", status=422, body="x" * 280 + TOKEN)
    with pytest.raises(RemoteError, match="HTTP 422") as info:
        await client(session).create_builds("r", [{}])
    assert_no_token(info.value)


async def test_create_builds_401_hint(
    http_mock: aioresponses, session: aiohttp.ClientSession
) -> None:
    http_mock.post(f"{API}/ci_build/r/create", status=401, body="")
    with pytest.raises(RemoteError, match=r"HTTP 401 \(check LOGILICA_TOKEN") as info:
        await client(session).create_builds("r", [{}])
    assert info.value.status == 401
    assert_no_token(info.value)


async def test_create_builds_retries_then_gives_up_without_the_token(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None
) -> None:
    url = f"{API}/ci_build/r/create"
    http_mock.post(url, status=503, body=TOKEN, repeat=True)
    with pytest.raises(RemoteError, match="gave up after retries") as info:
        await client(session).create_builds("r", [{}])
    assert len(calls(http_mock, "POST", url)) == MAX_TRIES
    assert not info.value.permanent
    assert_no_token(info.value)


async def test_create_builds_connection_error_without_the_token(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None
) -> None:
    http_mock.post(
        f"{API}/ci_build/r/create", exception=aiohttp.ClientConnectionError("refused"), repeat=True
    )
    with pytest.raises(RemoteError) as info:
        await client(session).create_builds("r", [{}])
    assert_no_token(info.value)


async def test_token_never_follows_a_redirect_to_another_host(
    http_mock: aioresponses, session: aiohttp.ClientSession, fast_retries: None
) -> None:
    http_mock.post(
        f"{API}/ci_build/r/create", status=307, headers={"Location": "https://evil.test/x"}
    )
    http_mock.post("https://evil.test/x", status=200)
    with pytest.raises(RemoteError, match="another host") as info:
        await client(session).create_builds("r", [{}])
    assert calls(http_mock, "POST", "https://evil.test/x") == []
    assert_no_token(info.value)
