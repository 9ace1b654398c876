"""The sequential baseline: the old `prow_crawler.py` request pattern, against the sandbox.

Per job: one job-history page. Then per build, strictly one request at a time:
GET finished.json, GET started.json (GCS), GET /repositories, POST one build (Logilica).
No sleep (the old script slept 1 s per build; leaving that out makes the baseline *faster*,
so the speed-up we report is a lower bound). Plain urllib, a new connection per request, as
`requests.get` without a session does.

    python -m bench.baseline --jobs-yaml JOBS.yaml --sample 200   # env from the sandbox
    python -m bench.baseline --jobs-yaml JOBS.yaml --sample 200 --per-job 20

The builds are taken in page order (newest first), job after job, until `sample` builds are
done; `per_job` caps the builds taken from each job (at most one page: 20 builds).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import quote

import yaml

_ALL_BUILDS = re.compile(r"var allBuilds = (\[.*?\]);\n")
_TIMEOUT = 30.0


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=_TIMEOUT) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=_TIMEOUT) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as err:
        err.read()
        return err.code


def _gcs_json(gcs: str, bucket: str, name: str) -> dict | None:
    status, body = _get(f"{gcs}/download/storage/v1/b/{bucket}/o/{quote(name, safe='')}?alt=media")
    if status != 200:
        return None
    if body[:2] == b"\x1f\x8b":
        import gzip

        body = gzip.decompress(body)
    doc = json.loads(body)
    return doc if isinstance(doc, dict) else None


def _build(entry: dict, started: dict, finished: dict, repo: str) -> dict:
    """A minimal Logilica build (the fields the import API requires)."""
    begin = int(started.get("timestamp") or 0)
    end = int(finished.get("timestamp") or begin)
    result = finished.get("result") or "FAILURE"
    conclusion = {"SUCCESS": "Success", "ABORTED": "Cancelled"}.get(result, "Failure")
    return {
        "origin": "OpenShift_CI",
        "originalID": str(entry["ID"]),
        "name": entry["SpyglassLink"].rsplit("/", 2)[-2],
        "url": "https://prow.ci.openshift.org" + entry["SpyglassLink"],
        "startedAt": begin,
        "createdAt": begin,
        "completedAt": end,
        "status": "Completed",
        "conclusion": conclusion,
        "repoUrl": f"https://github.com/{repo}",
        "commit": str(finished.get("revision") or started.get("repo-commit") or ""),
        "pullRequestUrls": [],
        "isDeployment": False,
        "stages": [],
        "triggeredBy": {"name": "OpenShift CI", "email": "", "accountId": "openshift-ci"},
    }


def run_baseline(
    job_urls: list[str], env: dict[str, str], sample: int, per_job: int | None = None
) -> dict:
    """Process up to `sample` finished builds sequentially (at most `per_job` of each job, the
    newest first); counts and timings."""
    gcs = env["STORAGE_EMULATOR_HOST"].rstrip("/")
    api = env["LOGILICA_API_URL"].rstrip("/")
    auth = {"X-lgca-token": env["LOGILICA_TOKEN"], "x-lgca-domain": env["LOGILICA_DOMAIN"]}
    requests = {"deck": 0, "gcs": 0, "logilica": 0}
    builds = failed = 0
    started_at = time.perf_counter()
    for url in job_urls:
        if builds >= sample:
            break
        status, page = _get(url)
        requests["deck"] += 1
        match = _ALL_BUILDS.search(page.decode("utf-8", "replace")) if status == 200 else None
        taken = 0
        for entry in json.loads(match.group(1)) if match else []:
            if builds >= sample or (per_job is not None and taken >= per_job):
                break
            if entry.get("Result") == "PENDING":
                continue
            taken += 1
            _, _, _, bucket, path = entry["SpyglassLink"].split("/", 4)
            finished = _gcs_json(gcs, bucket, f"{path}/finished.json")
            started = _gcs_json(gcs, bucket, f"{path}/started.json")
            requests["gcs"] += 2
            status, body = _get(f"{api}/repositories", auth)
            requests["logilica"] += 1
            repos = json.loads(body) if status == 200 else []
            refs = entry.get("Refs") or {}
            repo = f"{refs.get('org')}/{refs.get('repo')}" if refs else ""
            repo = repo or ((finished or {}).get("metadata") or {}).get("repo") or ""
            repo_id = next((r["id"] for r in repos if r.get("name") == repo), None)
            if repo_id is None and repos:
                repo_id, repo = repos[0]["id"], repos[0]["name"]
            if finished is None or started is None or repo_id is None:
                failed += 1
                builds += 1
                continue
            body = json.dumps([_build(entry, started, finished, repo)]).encode()
            headers = {**auth, "Content-Type": "application/json"}
            status = _post(f"{api}/ci_build/{repo_id}/create", body, headers)
            requests["logilica"] += 1
            builds += 1
            failed += not 200 <= status < 300
    seconds = time.perf_counter() - started_at
    return {
        "builds": builds,
        "failed": failed,
        "seconds": round(seconds, 3),
        "builds_per_s": round(builds / seconds, 3) if seconds > 0 else 0.0,
        "requests": requests,
        "sample": sample,
        **({"per_job": per_job} if per_job is not None else {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--jobs-yaml", required=True)
    parser.add_argument("--sample", type=int, default=200, help="builds to process at most")
    parser.add_argument("--per-job", type=int, help="builds to process at most per job")
    args = parser.parse_args(argv)
    with open(args.jobs_yaml) as fh:
        doc = yaml.safe_load(fh)
    urls = [j if isinstance(j, str) else j["url"] for j in doc["jobs"]]
    result = run_baseline(urls, dict(os.environ), args.sample, args.per_job)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0 if result["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
