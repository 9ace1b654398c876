"""A fake Logilica import API: strict about what it accepts, and recording what it got so
tests can check that every build arrived exactly once."""

from __future__ import annotations

import copy
import json
import threading
from collections import Counter
from typing import Any

from aiohttp import web

from .faults import Faults
from .injection import faults_middleware
from .world import World

API_PREFIX = "/api/import/v1"
CONCLUSIONS = frozenset({"Success", "Failure", "Cancelled"})
MAX_BODY = 8 * 1024 * 1024
# Largest plausible epoch-seconds value: rejects milliseconds sent by mistake.
_MAX_EPOCH_SECONDS = 10**11

_STR, _INT, _BOOL, _LIST, _OBJ = "string", "integer", "boolean", "array", "object"
BUILD_FIELDS: dict[str, str] = {
    "origin": _STR,
    "originalID": _STR,
    "name": _STR,
    "url": _STR,
    "startedAt": _INT,
    "createdAt": _INT,
    "completedAt": _INT,
    "status": _STR,
    "conclusion": _STR,
    "repoUrl": _STR,
    "commit": _STR,
    "pullRequestUrls": _LIST,
    "isDeployment": _BOOL,
    "stages": _LIST,
    "triggeredBy": _OBJ,
}
_TIMESTAMPS = ("startedAt", "createdAt", "completedAt")
_STAGE_TIMESTAMPS = ("startedAt", "completedAt")


class Recorder:
    """What the fake accepted; thread-safe (the app records, tests read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[tuple[str, dict]] = []
        self._posts = 0
        self._accepted_posts = 0
        self._repository_calls = 0

    def note_post(self, accepted: bool) -> None:
        """Called by the app for every authenticated create request."""
        with self._lock:
            self._posts += 1
            self._accepted_posts += accepted

    def note_repositories_call(self) -> None:
        with self._lock:
            self._repository_calls += 1

    def record(self, repo_id: str, builds: list[dict]) -> None:
        """Called by the app with the builds of an accepted create request."""
        with self._lock:
            self._received.extend((repo_id, b) for b in builds)

    def received(self) -> list[tuple[str, dict]]:
        """Every accepted build as (repo_id, build), in arrival order (copies)."""
        with self._lock:
            return [(repo_id, copy.deepcopy(b)) for repo_id, b in self._received]

    def count_by_id(self) -> Counter[str]:
        """originalID -> times accepted; anything above 1 is a duplicate upload."""
        with self._lock:
            return Counter(b["originalID"] for _, b in self._received)

    @property
    def posts(self) -> int:
        """POSTs to the create endpoint that passed authentication, whatever the answer."""
        with self._lock:
            return self._posts

    @property
    def accepted_posts(self) -> int:
        with self._lock:
            return self._accepted_posts

    @property
    def repository_calls(self) -> int:
        """GET /repositories calls (a run should need one)."""
        with self._lock:
            return self._repository_calls

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
            self._posts = self._accepted_posts = self._repository_calls = 0


RECORDER_KEY = web.AppKey("recorder", Recorder)
WORLD_KEY = web.AppKey("world", World)
FAULTS_KEY = web.AppKey("faults", Faults)


def make_logilica_app(
    world: World, token: str, domain: str, faults: Faults, recorder: Recorder
) -> web.Application:
    """The root app; the API lives under /api/import/v1 as on logilica.io."""
    api = web.Application(middlewares=[_auth_middleware(token, domain)])
    api[RECORDER_KEY] = recorder
    api[WORLD_KEY] = world
    api[FAULTS_KEY] = faults
    api.router.add_get("/repositories", _repositories)
    api.router.add_post("/ci_build/{repo_id}/create", _create_builds)
    app = web.Application(
        middlewares=[_echo_headers_middleware(faults), faults_middleware(faults, "logilica")],
        client_max_size=MAX_BODY,
    )
    app.add_subapp(API_PREFIX, api)
    return app


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _echo_headers_middleware(faults: Faults):
    """With `faults.echo_headers`, error answers carry the request's headers (token too)."""

    @web.middleware
    async def echo(request: web.Request, handler) -> web.StreamResponse:
        response = await handler(request)
        if faults.echo_headers and response.status >= 400:
            body = {"error": "request failed", "request_headers": dict(request.headers)}
            return web.json_response(body, status=response.status)
        return response

    return echo


def _auth_middleware(token: str, domain: str):
    @web.middleware
    async def auth(request: web.Request, handler) -> web.StreamResponse:
        # Never echo what was sent: a wrong token may be a real one pasted by mistake.
        if request.headers.get("X-lgca-token") != token:
            return _error(401, "missing or invalid X-lgca-token header")
        if request.headers.get("x-lgca-domain") != domain:
            return _error(401, "missing or invalid x-lgca-domain header")
        return await handler(request)

    return auth


async def _repositories(request: web.Request) -> web.Response:
    request.app[RECORDER_KEY].note_repositories_call()
    return web.json_response(request.app[WORLD_KEY].repositories)


async def _create_builds(request: web.Request) -> web.Response:
    recorder = request.app[RECORDER_KEY]
    refusal, builds = await _check_create(request)
    recorder.note_post(accepted=refusal is None)
    if refusal is not None:
        return refusal
    recorder.record(request.match_info["repo_id"], builds)
    return web.json_response({"created": len(builds)})


async def _check_create(request: web.Request) -> tuple[web.Response | None, list[dict]]:
    """(the error answer, or None when acceptable; the builds sent)."""
    world, faults = request.app[WORLD_KEY], request.app[FAULTS_KEY]
    repo_id = request.match_info["repo_id"]
    repo = next((r for r in world.repositories if str(r["id"]) == repo_id), None)
    if repo is None:
        return _error(404, f"repository {repo_id!r} not found"), []
    if repo["name"] in faults.reject_repos:
        return _error(422, f"repository {repo['name']} does not accept CI builds"), []
    try:
        body = json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return _error(400, f"body is not valid JSON: {err}"), []
    problem = validate_builds(body)
    return (None, body) if problem is None else (_error(400, problem), [])


def validate_builds(body: Any) -> str | None:
    """What is wrong with a create request's body, or None."""
    if not isinstance(body, list):
        return f"body must be a JSON array of builds, not {_type_name(body)}"
    for index, build in enumerate(body):
        problem = _validate_build(build)
        if problem:
            return f"build[{index}]: {problem}"
    return None


def _validate_build(build: Any) -> str | None:
    if not isinstance(build, dict):
        return f"must be an object, not {_type_name(build)}"
    for name, kind in BUILD_FIELDS.items():
        if name not in build:
            return f"missing field {name!r}"
        if _type_name(build[name]) != kind:
            return f"field {name!r} must be {kind}, not {_type_name(build[name])}"
    if not build["originalID"]:
        return "field 'originalID' must not be empty"
    problem = _check_timestamps(build, _TIMESTAMPS) or _check_conclusion(build)
    if problem:
        return problem
    if not all(isinstance(u, str) for u in build["pullRequestUrls"]):
        return "field 'pullRequestUrls' must be an array of strings"
    for index, stage in enumerate(build["stages"]):
        problem = _validate_stage(stage)
        if problem:
            return f"stages[{index}]: {problem}"
    return None


def _validate_stage(stage: Any) -> str | None:
    """Stages and their jobs: only fields that are present are checked."""
    if not isinstance(stage, dict):
        return f"must be an object, not {_type_name(stage)}"
    problem = _check_timestamps(stage, _STAGE_TIMESTAMPS, optional=True)
    if problem or "conclusion" not in stage:
        return problem
    problem = _check_conclusion(stage)
    if problem or "jobs" not in stage:
        return problem
    if not isinstance(stage["jobs"], list):
        return "field 'jobs' must be array"
    for index, job in enumerate(stage["jobs"]):
        if not isinstance(job, dict):
            return f"jobs[{index}]: must be an object"
        problem = _check_timestamps(job, _STAGE_TIMESTAMPS, optional=True)
        if not problem and "conclusion" in job:
            problem = _check_conclusion(job)
        if problem:
            return f"jobs[{index}]: {problem}"
    return None


def _check_timestamps(obj: dict, names: tuple[str, ...], optional: bool = False) -> str | None:
    for name in names:
        if optional and name not in obj:
            continue
        value = obj.get(name)
        if _type_name(value) != _INT:
            return f"field {name!r} must be integer epoch seconds, not {_type_name(value)}"
        if not 0 <= value < _MAX_EPOCH_SECONDS:
            return f"field {name!r} is not epoch seconds: {value}"
    return None


def _check_conclusion(obj: dict) -> str | None:
    if obj.get("conclusion") not in CONCLUSIONS:
        allowed = ", ".join(sorted(CONCLUSIONS))
        return f"field 'conclusion' must be one of {allowed}, not {obj.get('conclusion')!r}"
    return None


def _type_name(value: Any) -> str:
    """The JSON type of a decoded value (bool is not an integer here)."""
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int):
        return _INT
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return _STR
    if isinstance(value, list):
        return _LIST
    if isinstance(value, dict):
        return _OBJ
    return "null"
