"""The compact fault spec that `prow-crawler demo --faults` and `python -m crawler.sandbox
--faults` take (`error_rate=0.1,gcs:burst429=50x3`): SPEC_HELP, and a parser for each key.
Kept apart from Faults, which these keys configure, so the syntax can be read on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SERVICES = frozenset({"deck", "gcs", "logilica"})

SPEC_HELP = """\
comma-separated KEY=VALUE items; a key may be prefixed SERVICE: (deck, gcs, logilica) to set
it for that service only (transport faults). Lists join items with '+'.
  latency=SECONDS            delay before every answer
  error_rate=RATE            share of requests answered 503
  services=deck+gcs          services the transport faults apply to (default: all three)
  burst429=NxK, burst503=NxK every Nth request of a service starts K refusals with Retry-After
  retry_after=SECONDS        the bursts' Retry-After (default 1)
  retry_after_form=FORM      seconds, date (HTTP-date) or both (alternating; default)
  reset_rate=RATE            connection reset after the headers and half the body
  slow_rate=RATE, slow=SECONDS   answer that late (beyond the client's timeout)
  truncate_rate=RATE, malformed_rate=RATE, gzip_rate=RATE   GCS object bodies cut short,
                             not JSON, or corrupt gzip (gzip-stored objects)
  corrupt=OBJ+OBJ            GCS object names that are always broken
  huge=OBJ+OBJ, huge_size=BYTES  GCS objects served as a streamed body of that size (100M)
  page_missing_rate=RATE, page_garbled_rate=RATE   deck pages without allBuilds / not JSON
  page_missing=JOB+JOB, page_garbled=JOB+JOB       ... always, for these jobs
  page_padding=BYTES, padding_jobs=JOB+JOB   pad deck pages (of these jobs; default all)
  redirect=URL, redirect_jobs=JOB+JOB, redirect_services=deck   answer 302 to URL + path
  reject_repos=ORG/NAME+...  Logilica answers 422 for these repositories
  hostile=JOB+JOB            deck lists hostile entries on these jobs' newest page
  deny_list=BUCKET+BUCKET    GCS refuses anonymous listing of these buckets (401); objects
                             stay readable
  moved=JOB+JOB              these jobs' newer builds live in a bucket no crawler can guess
                             (MOVED_BUCKET); their job URL still names the old one
  no_prowjob=JOB+JOB         these jobs' builds have no prowjob.json (and deck shows no Refs)
  unlisted=JOB+JOB           bucket listings of these jobs' folders come back empty
  feed_error=STATUS          deck's /prowjobs.js answers this 5xx status (500..599)
  feed_blind=JOB+JOB         /prowjobs.js leaves out these jobs' builds (pages still list them)
  seed=N                     seed of every random draw
BYTES may end in K or M (KiB, MiB)."""


def _rate(name: str) -> Callable[[str], dict[str, Any]]:
    def parse(value: str) -> dict[str, Any]:
        number = _float(value)
        if not 0.0 <= number <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, not {value}")
        return {name: number}

    return parse


def _float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _seconds(name: str) -> Callable[[str], dict[str, Any]]:
    def parse(value: str) -> dict[str, Any]:
        number = _float(value)
        if number < 0:
            raise ValueError(f"{name} must not be negative")
        return {name: number}

    return parse


def _int(value: str, *, minimum: int = 0) -> int:
    if not value.isascii() or not value.isdigit():
        raise ValueError(f"{value!r} is not a whole number")
    number = int(value)
    if number < minimum:
        raise ValueError(f"{value!r} must be at least {minimum}")
    return number


def _size(name: str) -> Callable[[str], dict[str, Any]]:
    def parse(value: str) -> dict[str, Any]:
        scale = {"K": 1024, "M": 1024 * 1024}.get(value[-1:].upper(), 1)
        digits = value[:-1] if scale > 1 else value
        return {name: _int(digits) * scale}

    return parse


def _burst(status: int) -> Callable[[str], dict[str, Any]]:
    def parse(value: str) -> dict[str, Any]:
        every, x, length = value.lower().partition("x")
        if not x:
            raise ValueError("expected NxK: every Nth request starts K refusals")
        return {
            "burst_every": _int(every, minimum=1),
            "burst_len": _int(length, minimum=1),
            "burst_status": status,
        }

    return parse


def _names(name: str, allowed: frozenset[str] | None = None) -> Callable[[str], dict[str, Any]]:
    def parse(value: str) -> dict[str, Any]:
        items = frozenset(v.strip() for v in value.split("+") if v.strip())
        if allowed is not None and not items <= allowed:
            raise ValueError(f"unknown {', '.join(sorted(items - allowed))}")
        return {name: items}

    return parse


def _choice(name: str, options: tuple[str, ...]) -> Callable[[str], dict[str, Any]]:
    def parse(value: str) -> dict[str, Any]:
        if value not in options:
            raise ValueError(f"{name} must be one of {', '.join(options)}")
        return {name: value}

    return parse


def _url(value: str) -> dict[str, Any]:
    if not value.startswith(("http://", "https://")):
        raise ValueError("redirect must be an http(s) URL")
    return {"redirect_to": value.rstrip("/")}


def _seed(value: str) -> dict[str, Any]:
    return {"seed": _int(value)}


def _feed_error(value: str) -> dict[str, Any]:
    status = _int(value)
    if not 500 <= status <= 599:
        raise ValueError(f"feed_error must be a 5xx status, not {value}")
    return {"feed_error": status}


def _retry_after(value: str) -> dict[str, Any]:
    return {"retry_after": _int(value)}


PARSERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "latency": _seconds("latency"),
    "error_rate": _rate("error_rate"),
    "services": _names("error_services", SERVICES),
    "burst429": _burst(429),
    "burst503": _burst(503),
    "retry_after": _retry_after,
    "retry_after_form": _choice("retry_after_form", ("seconds", "date", "both")),
    "reset_rate": _rate("reset_rate"),
    "slow_rate": _rate("slow_rate"),
    "slow": _seconds("slow_delay"),
    "truncate_rate": _rate("truncate_rate"),
    "malformed_rate": _rate("malformed_rate"),
    "gzip_rate": _rate("corrupt_gzip_rate"),
    "corrupt": _names("corrupt_objects"),
    "huge": _names("huge_objects"),
    "huge_size": _size("huge_size"),
    "page_missing_rate": _rate("page_missing_rate"),
    "page_garbled_rate": _rate("page_garbled_rate"),
    "page_missing": _names("page_missing_jobs"),
    "page_garbled": _names("page_garbled_jobs"),
    "page_padding": _size("page_padding"),
    "padding_jobs": _names("padding_jobs"),
    "redirect": _url,
    "redirect_jobs": _names("redirect_jobs"),
    "redirect_services": _names("redirect_services", SERVICES),
    "reject_repos": _names("reject_repos"),
    "hostile": _names("hostile_jobs"),
    "deny_list": _names("deny_list_buckets"),
    "moved": _names("moved_jobs"),
    "no_prowjob": _names("no_prowjob_jobs"),
    "unlisted": _names("unlisted_jobs"),
    "feed_error": _feed_error,
    "feed_blind": _names("feed_blind_jobs"),
    "seed": _seed,
}
# Keys that may be given for one service (`gcs:error_rate=0.2`): the transport faults.
SERVICE_KEYS = frozenset(
    {
        "latency",
        "error_rate",
        "burst429",
        "burst503",
        "retry_after",
        "retry_after_form",
        "reset_rate",
        "slow_rate",
        "slow",
    }
)
