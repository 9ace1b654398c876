"""Logilica import API client: the repositories map and build uploads
(docs/formats.md#logilica-import-api)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import aiohttp

from crawler.core.errors import RemoteError
from crawler.core.secret import Secret
from crawler.net.http import exchange
from crawler.net.limits import HostGate
from crawler.net.retry import RetryStats, give_up, read_until_decoded

_MAX_ANSWER_BYTES = 32 * 1024 * 1024


class LogilicaClient:
    """Speaks the import API; the token goes in headers to this base URL's host and nowhere else
    (`exchange` refuses cross-host redirects)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        gate: HostGate,
        *,
        api_url: str,
        token: Secret,
        domain: str,
        timeout: float,
        stats: RetryStats | None = None,
    ) -> None:
        self._session = session
        self._gate = gate
        self._base = api_url.rstrip("/")
        self._token = token
        self._domain = domain
        self._timeout = timeout
        self._stats = stats

    def _headers(self) -> dict[str, str]:
        return {"X-lgca-token": self._token.reveal(), "x-lgca-domain": self._domain}

    async def repositories(self) -> dict[str, str]:
        """Map of repository full name (lower-cased) -> Logilica id; one call serves a run.

        Every build of the run needs it, so an answer cut short or garbled on the way is read
        again (DECODE_TRIES in all, see crawler.net.retry) rather than failing them all."""

        async def read() -> bytes:
            resp = await exchange(
                self._session,
                self._gate,
                "GET",
                f"{self._base}/repositories",
                what="Logilica GET /repositories",
                cap=_MAX_ANSWER_BYTES,
                timeout=self._timeout,
                headers=self._headers(),
                stats=self._stats,
            )
            if resp.status != 200:
                raise give_up(
                    f"Logilica GET /repositories: HTTP {resp.status}{_hint(resp.status)}",
                    resp.status,
                )
            return resp.body

        try:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
            items = await read_until_decoded(read, json.loads, stats=self._stats)
        except ValueError:
            raise RemoteError("Logilica GET /repositories: answer is not JSON") from None
        if isinstance(items, dict) and isinstance(items.get("repositories"), list):
            items = items["repositories"]
        if not isinstance(items, list):
            raise RemoteError("Logilica GET /repositories: answer is not a list")
        repos: dict[str, str] = {}
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("name"), str) and "id" in item:
                repos[item["name"].lower()] = str(item["id"])
        return repos

    async def create_builds(self, repo_id: str, builds: list[dict[str, Any]]) -> None:
        """POST builds of one repository; returns only when Logilica answered 2xx."""
        resp = await exchange(
            self._session,
            self._gate,
            "POST",
            f"{self._base}/ci_build/{quote(repo_id, safe='')}/create",
            what=f"Logilica POST ci_build/{repo_id}/create",
            cap=1024 * 1024,
            timeout=self._timeout,
            headers=self._headers(),
            json_body=builds,
            stats=self._stats,
        )
        if not 200 <= resp.status < 300:
            # Mask the token before cutting the excerpt: a token straddling the cut would
            # otherwise escape the replace() and leak its first part.
            detail = resp.body.decode("utf-8", "replace").replace(self._token.reveal(), "***")
            detail = detail[:300].strip()
            raise give_up(
                f"Logilica rejected the upload: HTTP {resp.status}{_hint(resp.status)}"
                + (f": {detail}" if detail else ""),
                resp.status,
            )


def _hint(status: int) -> str:
    if status in (401, 403):
        return " (check LOGILICA_TOKEN and LOGILICA_DOMAIN)"
    return ""
