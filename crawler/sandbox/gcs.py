"""GCS for the sandbox: the real gcp-storage-emulator, seeded with the world's build folders,
behind a small aiohttp proxy that adds what the emulator lacks (gzip content encoding on
downloads, GCS-shaped error bodies, fault injection).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote, unquote

import aiohttp
import google_crc32c
from aiohttp import web
from gcp_storage_emulator.handlers import buckets as emulator_buckets
from gcp_storage_emulator.server import create_server
from yarl import URL

from crawler.prow.stepgraph import STEP_GRAPH

from .counter import RequestCounter
from .faults import Faults
from .injection import break_object, faults_middleware, serve_huge
from .records import FINISHED, PROWJOB, STARTED, SandboxBuild, SandboxJob, go_json
from .stepgraph import graph_bytes, graph_for, graph_gzipped
from .world import World

EncodingLookup = Callable[[str, str], "str | None"]
_OBJECT_PATH = re.compile(
    r"^(?P<download>/download)?(?:/storage/v1)?/b/(?P<bucket>[^/]+)/o/(?P<name>.+)$"
)
_LIST_PATH = re.compile(r"^(?:/storage/v1)?/b/(?P<bucket>[^/]+)/o/?$")
# Emulator response headers worth passing on; the rest are hop-by-hop or recomputed.
_PASSED_HEADERS = frozenset(
    {"Content-Type", "Content-Range", "Content-Disposition", "X-Goog-Hash", "Location"}
)
_EMULATOR_LOGGERS = ("gcp_storage_emulator", "api.object", "api.bucket")
SESSION_KEY = web.AppKey("session", aiohttp.ClientSession)
# Connections the proxy keeps open to the emulator at once, and the emulator's listen backlog,
# which must hold all of them: the emulator accepts one connection at a time.
EMULATOR_CONNECTIONS = 16
EMULATOR_BACKLOG = 64


class GcsEmulator:
    """The real emulator, in this process, in memory, on a free 127.0.0.1 port."""

    def __init__(self) -> None:
        # Missing objects are routine here (running builds have no finished.json), but the
        # emulator logs each one as an error.
        for name in _EMULATOR_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        self._server = create_server("127.0.0.1", 0, in_memory=True)
        self._storage = self._server._storage
        # The emulator rewrites a JSON dump of *all* object metadata after every write (so
        # seeding is quadratic: 1,000 objects took 7 s). In memory nothing ever reads it back.
        self._storage._write_config_to_file = lambda: None
        self._server._api.daemon = True  # never keep a crashed test process alive
        self.url: str | None = None

    def start(self) -> str:
        self._server.start()
        httpd = self._server._api._httpd
        # http.server listens with a backlog of 5 and serves one connection at a time: the
        # proxy's connections beyond that had their SYNs dropped and waited out TCP's 1 s
        # (then 3 s) retransmit, so a few downloads of a busy run took seconds. listen()
        # again on a listening socket only changes the backlog (Linux, macOS).
        httpd.socket.listen(EMULATOR_BACKLOG)
        host, port = httpd.server_address[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        """Stop serving and wait for the server thread (its own join() only shuts down)."""
        if self.url is None:
            return
        # serve_forever() notices shutdown only between 0.5 s polls, or after a request:
        # send health checks until it has, so stopping takes milliseconds.
        stopper = threading.Thread(target=self._server.stop, name="emulator-stop")
        stopper.start()
        while stopper.is_alive():
            with contextlib.suppress(OSError):
                urllib.request.urlopen(self.url + "/", timeout=1).close()
            stopper.join(0.05)
        threading.Thread.join(self._server._api, timeout=10)
        self.url = None

    def create_bucket(self, name: str) -> None:
        emulator_buckets.create_bucket(name, self._storage)

    def put(
        self,
        bucket: str,
        name: str,
        data: bytes,
        content_type: str = "application/json",
        content_encoding: str | None = None,
    ) -> None:
        """Store an object directly in the emulator's storage (see __init__ for why)."""
        if self._storage.get_bucket(bucket) is None:
            self.create_bucket(bucket)
        resource = _object_resource(bucket, name, data, content_type, content_encoding)
        self._storage.create_file(bucket, name, data, resource)

    def content_encoding(self, bucket: str, name: str) -> str | None:
        """The stored object's contentEncoding metadata, None when unset or absent."""
        resource = self._storage.objects.get(bucket, {}).get(name)
        return resource.get("contentEncoding") if resource else None

    def seed_world(self, world: World) -> int:
        """Upload every build folder, latest-build.txt and presubmit link; returns the count."""
        return sum(self.seed_job(job) for job in world.jobs)

    def seed_job(self, job: SandboxJob) -> int:
        count = sum(self.seed_build(b) for b in job.builds)
        return count + self.seed_job_index(job)

    def seed_build(self, build: SandboxBuild) -> int:
        """Upload the build's JSON documents as Prow's uploaders would store them."""
        docs = {
            STARTED: go_json(build.started_json),
            FINISHED: None if build.finished_json is None else go_json(build.finished_json),
            PROWJOB: go_json(build.prowjob_json, indent="\t") if build.has_prowjob else None,
        }
        graph = graph_for(build)
        if graph is not None:
            docs[STEP_GRAPH] = graph_bytes(graph).decode()
        count = 0
        for file_name, text in docs.items():
            if text is None:
                continue
            data, encoding = text.encode(), None
            gzipped = graph_gzipped(build) if file_name == STEP_GRAPH else False
            if gzipped or file_name in build.gzip_files:
                data, encoding = gzip.compress(data, compresslevel=6, mtime=0), "gzip"
            self.put(build.bucket, f"{build.path}/{file_name}", data, content_encoding=encoding)
            count += 1
        return count

    def seed_job_index(self, job: SandboxJob) -> int:
        """latest-build.txt files, and for presubmits the pr-logs/directory links."""
        latest: dict[tuple[str, str], int] = {}
        count = 0
        for b in job.builds:
            folders = [job.history_root()]
            if job.presubmit:
                folders.append(b.path.rsplit("/", 1)[0])
                link = f"gs://{b.bucket}/{b.path}".encode()
                self.put(b.bucket, f"{job.history_root()}/{b.id}.txt", link, "text/plain")
                count += 1
            for folder in folders:
                key = (b.bucket, folder)
                latest[key] = max(latest.get(key, 0), int(b.id))
        for (bucket, folder), build_id in latest.items():
            self.put(bucket, f"{folder}/latest-build.txt", str(build_id).encode(), "text/plain")
        return count + len(latest)


def _object_resource(
    bucket: str, name: str, data: bytes, content_type: str, content_encoding: str | None
) -> dict:
    """A GCS object resource, as the emulator would make it on upload."""
    generation = str(time.time_ns())
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    quoted = quote(name, safe="")
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    resource = {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/{generation}",
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}/o/{quoted}",
        "mediaLink": f"https://storage.googleapis.com/download/storage/v1/b/{bucket}/o/{quoted}"
        f"?generation={generation}&alt=media",
        "name": name,
        "bucket": bucket,
        "generation": generation,
        "metageneration": "1",
        "contentType": content_type,
        "storageClass": "STANDARD",
        "size": str(len(data)),
        "md5Hash": md5,
        "crc32c": base64.b64encode(google_crc32c.Checksum(data).digest()).decode(),
        "etag": md5,
        "timeCreated": now,
        "updated": now,
        "timeStorageClassUpdated": now,
        "acl": [],
    }
    if content_encoding:
        resource["contentEncoding"] = content_encoding
    return resource


def gcs_error(status: int, message: str, reason: str) -> web.Response:
    """An error body shaped like the GCS JSON API's (the emulator sends none)."""
    error = {
        "code": status,
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
    }
    return web.Response(
        status=status,
        text=json.dumps({"error": error}),
        content_type="application/json",
        charset="UTF-8",
    )


def make_gcs_proxy_app(
    emulator_url: str,
    faults: Faults,
    content_encoding: EncodingLookup | None = None,
    counter: RequestCounter | None = None,
) -> web.Application:
    """A read-only reverse proxy in front of the emulator.

    content_encoding(bucket, name) tells which objects are stored gzip-compressed; their
    media downloads get `Content-Encoding: gzip` (or are decompressed for clients that do not
    accept gzip: GCS's "decompressive transcoding").
    """
    app = web.Application(middlewares=[faults_middleware(faults, "gcs")])
    app.cleanup_ctx.append(_client_session)
    lookup = content_encoding or (lambda bucket, name: None)
    counter = counter or RequestCounter()
    base = emulator_url.rstrip("/")

    async def proxy(request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return gcs_error(405, "The sandbox's GCS is read-only.", "methodNotAllowed")
        target = _parse_object_path(request)
        counter.add("media" if target and target[2] else "metadata" if target else "other")
        listed = _LIST_PATH.match(request.raw_path.split("?", 1)[0])
        if listed and unquote(listed["bucket"]) in faults.deny_list_buckets:
            faults.mark("gcs", request, "list-denied")
            return gcs_error(
                401,
                "Anonymous caller does not have storage.objects.list access to the Google Cloud"
                " Storage bucket. Permission 'storage.objects.list' denied on resource (or it"
                " may not exist).",
                "required",
            )
        if listed and _lists_unlisted_job(request, faults):
            faults.mark("gcs", request, "unlisted")
            return web.json_response({"kind": "storage#objects"})
        if target and target[2] and target[1] in faults.huge_objects:
            faults.mark("gcs", request, "huge")
            return await serve_huge(faults, request, target[1])
        try:
            upstream = await _forward(request.app[SESSION_KEY], base, request)
        except aiohttp.ClientError as err:
            return gcs_error(502, f"emulator unreachable: {err}", "backendError")
        status, headers, body = upstream
        if status == 404 and not body and target:
            return gcs_error(404, f"No such object: {target[0]}/{target[1]}", "notFound")
        if target and target[2] and status in (200, 206):
            encoding = lookup(target[0], target[1])
            body = _apply_encoding(request, headers, body, encoding)
            gzipped = headers.get("Content-Encoding") == "gzip"
            body, fault = break_object(faults, target[1], body, gzipped)
            if fault:
                faults.mark("gcs", request, fault)
        return web.Response(status=status, headers=headers, body=body)

    app.router.add_route("*", "/{tail:.*}", proxy)
    return app


def _lists_unlisted_job(request: web.Request, faults: Faults) -> bool:
    """A listing of `logs/JOB/` or `pr-logs/directory/JOB/` for a job the faults hide."""
    prefix = request.query.get("prefix", "").rstrip("/")
    return prefix.startswith(("logs/", "pr-logs/directory/")) and (
        prefix.rsplit("/", 1)[-1] in faults.unlisted_jobs
    )


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    """One shared session to the emulator, which serves one request at a time on one thread
    (HTTP/1.0: a connection per request)."""
    connector = aiohttp.TCPConnector(limit=EMULATOR_CONNECTIONS, force_close=True)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False
    ) as session:
        app[SESSION_KEY] = session
        yield


def _parse_object_path(request: web.Request) -> tuple[str, str, bool] | None:
    """(bucket, object name, is media download) for object URLs, else None."""
    match = _OBJECT_PATH.match(request.raw_path.split("?", 1)[0])
    if not match:
        return None
    media = bool(match["download"]) or request.query.get("alt") == "media"
    return unquote(match["bucket"]), unquote(match["name"]), media


async def _forward(
    session: aiohttp.ClientSession, base: str, request: web.Request
) -> tuple[int, dict[str, str], bytes]:
    """Send the request on unchanged (path and query byte for byte) and read the answer."""
    headers = {"Host": request.host}  # so emulator-made links point at the proxy
    if "Range" in request.headers:
        headers["Range"] = request.headers["Range"]
    url = URL(base + request.raw_path, encoded=True)
    async with session.request(request.method, url, headers=headers) as response:
        body = await response.read()
        passed = {
            k.title(): v
            for k, v in response.headers.items()
            if k.title() in _PASSED_HEADERS or k.lower().startswith("x-goog-meta-")
        }
        return response.status, passed, body


def _apply_encoding(
    request: web.Request, headers: dict[str, str], body: bytes, encoding: str | None
) -> bytes:
    """Serve gzip-stored objects as GCS does, and add GCS's stored-encoding headers."""
    headers["x-goog-stored-content-encoding"] = encoding or "identity"
    headers["x-goog-stored-content-length"] = str(len(body))
    if encoding != "gzip":
        return body
    if "gzip" in request.headers.get("Accept-Encoding", "").lower():
        headers["Content-Encoding"] = "gzip"
        return body
    headers.pop("X-Goog-Hash", None)  # the hash is of the stored (compressed) bytes
    headers["Warning"] = "214 UploadServer gunzipped"
    return gzip.decompress(body)
