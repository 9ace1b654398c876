"""ci-operator step graphs (``artifacts/ci-operator-step-graph.json``) for sandbox builds.

Pure and deterministic: every choice comes from the caller's ``random.Random``. The shape
follows openshift/ci-tools (``CIOperatorStepDetails``): steps in dependency order, Go's
RFC 3339 nanosecond times, ``duration`` in nanoseconds, ``failed`` only on steps that ran,
and substeps (the pods of a multi-stage test) listed only once they ran.
"""

from __future__ import annotations

import random
import zlib
from typing import Any

from crawler.sandbox.records import RESULTS, SandboxBuild, go_json, rfc3339

_NS = 1_000_000_000
# Share of a build's time (lower, upper weight) for the steps that run one after another.
_CHAIN = (("src", 3, 8), ("bin", 8, 20), ("[images]", 1, 8), ("[release:latest]", 2, 6))
_TEST, _PROMOTION = 55, 3
_PRE = (("ipi-conf", 1, 2), ("ipi-conf-aws", 1, 2), ("ipi-install-install", 25, 40))
_RUN = (("openshift-e2e-test", 30, 50),)
_POST = (
    ("gather-must-gather", 3, 6),
    ("gather-extra", 2, 4),
    ("ipi-deprovision-deprovision", 6, 12),
)
_DESCRIPTIONS = {
    "src": "Clone the correct source code into an image and tag it as src",
    "bin": "Build image bin from the repository",
    "test-bin": "Build image test-bin from the repository",
    "[images]": "All images are built and tagged into stable",
    "[release-inputs]": "Find all of the input images from ocp/4.21 and tag them into the "
    "output image stream",
    "[release:latest]": 'Create the release image "latest" containing all images built by this job',
    "[promotion]": "Promote built images into the release image stream",
}

Step = dict[str, Any]


def _split(rng: random.Random, low: int, high: int, weights: list[float]) -> list[tuple[int, int]]:
    """Consecutive (start, end) nanosecond intervals in [low, high], each after a small gap."""
    parts = [x for w in weights for x in (rng.uniform(0, 0.02 * w + 0.05), w)]
    total, span, at = sum(parts), high - low, 0.0
    out: list[tuple[int, int]] = []
    for gap, weight in zip(parts[::2], parts[1::2], strict=True):
        at += gap
        start = low + int(span * at / total)
        at += weight
        out.append((start, min(high, low + int(span * at / total))))
    return out


def _time(ns: int, whole: bool) -> str:
    """A time as Go marshals time.Time in UTC (RFC3339Nano: trailing zeros of the fraction cut)."""
    seconds, fraction = divmod(ns, _NS)
    stamp = rfc3339(seconds)[:-1]
    digits = "" if whole else f"{fraction:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


def _step(name: str, description: str, dependencies: list[str] | None) -> Step:
    return {"name": name, "description": description, "dependencies": dependencies}


def make_step_graph(
    rng: random.Random, *, started: int, finished: int, result: str, test_name: str
) -> list[dict] | None:
    """A realistic step graph for a build that ran from `started` to `finished` (epoch
    seconds) and ended with Prow `result`; None for the ~10 % of builds without one."""
    if result not in RESULTS:
        raise ValueError(f"result must be one of {RESULTS}, not {result!r}")
    if finished < started:
        raise ValueError("a build cannot finish before it started")
    if rng.random() < 0.1:
        return None
    low, high = started * _NS, finished * _NS
    whole = rng.random() < 0.25  # some producers (and Kubernetes) keep whole seconds only
    namespace, cluster = f"ci-op-{rng.getrandbits(32):08x}", f"build{rng.randint(1, 11):02d}"
    console = f"https://console-openshift-console.apps.{cluster}.ci.devcluster.openshift.com"
    spans = _split(rng, low, high, [rng.uniform(a, b) for _, a, b in _CHAIN] + [_TEST, _PROMOTION])
    times = {name: span for (name, _, _), span in zip(_CHAIN, spans, strict=False)}
    test_span, promotion_span = spans[-2], spans[-1]
    src = times["src"] = (low, times["src"][1])  # the first step starts with the build
    bin_, images = times["bin"], times["[images]"]
    inputs_start = src[0] + rng.randint(0, (src[1] - src[0]) // 2)
    times["[release-inputs]"] = (
        inputs_start,
        rng.randint(inputs_start, max(inputs_start, bin_[1])),
    )
    test_bin_start = bin_[0] + rng.randint(0, (bin_[1] - bin_[0]) // 10)
    times["test-bin"] = (
        test_bin_start,
        rng.randint(test_bin_start, max(test_bin_start, images[0])),
    )
    # Pods of the test. A failing pre/test pod ends the test early and the pods after it never
    # run, but the post pods (gather, deprovision) run right after it.
    pods = [*_PRE, *_RUN, *_POST]
    pod_spans = _split(rng, *test_span, [rng.uniform(a, b) for _, a, b in pods])
    failing = None
    if result == "FAILURE":
        failing = rng.choices(range(len(_PRE) + len(_RUN)), weights=[1, 1, 4, 6])[0]
        start, end = pod_spans[failing]
        short = start + int((end - start) * rng.uniform(0.05, 1.0))
        first_post = len(pods) - len(_POST)
        shift = pod_spans[first_post][0] - (short + pod_spans[failing + 1][0] - end)
        post = [(a - shift, b - shift) for a, b in pod_spans[first_post:]]
        pods = pods[: failing + 1] + pods[first_post:]
        pod_spans = [*pod_spans[:failing], (start, short), *post]
    subs = {f"{test_name}-{n}": span for (n, _, _), span in zip(pods, pod_spans, strict=True)}
    times[test_name] = (test_span[0], pod_spans[-1][1])
    if result == "SUCCESS" and rng.random() < 0.5:
        times["[promotion]"] = promotion_span
    # Aborted or errored: everything that had not started by `cut` never runs.
    cut = high
    if result in ("ABORTED", "ERROR"):
        share = rng.uniform(0.0, 0.4) if result == "ERROR" else rng.uniform(0.05, 0.95)
        cut = low + int((pod_spans[-1][0] - low) * share)
    failed_pods = {f"{test_name}-{pods[failing][0]}"} if failing is not None else set()

    def ran(name: str, span: tuple[int, int]) -> tuple[int, int, bool] | None:
        """(start, end, interrupted) for a step that started before the cut."""
        if span[0] >= cut and name != "src":
            return None
        return span[0], min(span[1], cut), span[1] > cut

    def fill(step: Step, span: tuple[int, int, bool], failed: bool, log: str | None) -> Step:
        start, end, interrupted = span
        step.update(started_at=_time(start, whole), finished_at=_time(end, whole))
        step["duration"] = (end - start) if not whole else (end // _NS - start // _NS) * _NS
        if log is not None and rng.random() < 0.2:  # the Build or Pod the step created
            kind, api = ("Pod", "v1") if "/pods/" in log else ("Build", "build.openshift.io/v1")
            meta = {"name": step["name"], "namespace": namespace}
            step["manifests"] = [{"kind": kind, "apiVersion": api, "metadata": meta}]
        if log is not None and rng.random() < 0.6:
            step["log_url"] = log
        step["failed"] = failed or interrupted
        return step

    order = ["src", "bin", "test-bin", "[images]", "[release-inputs]", "[release:latest]"]
    if rng.random() < 0.5:
        order[1:3] = order[2:0:-1]  # bin and test-bin run in parallel: either may come first
    deps = {"bin": ["src"], "test-bin": ["src"], "[images]": ["bin", "test-bin"]}
    deps |= {"[release:latest]": ["[images]", "[release-inputs]"], "[promotion]": [test_name]}
    deps[test_name] = ["[release:latest]", "[images]"]
    never = "null" if rng.random() < 0.5 else "absent"
    graph: list[Step] = []
    for name in [*order, test_name, "[promotion]"]:
        description = _DESCRIPTIONS.get(name, f"Run multi-stage test {test_name}")
        step = _step(name, description, deps.get(name, []))
        span = ran(name, times[name]) if name in times else None
        if span is None:
            if never == "null":
                step.update(started_at=None, finished_at=None)
            graph.append(step)
            continue
        build = name in ("src", "bin", "test-bin")  # OpenShift builds; the rest are not pods
        log = f"{console}/k8s/ns/{namespace}/builds/{name}/logs" if build else None
        substeps = []
        if name == test_name:
            for pod, pod_span in subs.items():
                pod_ran = ran(pod, pod_span)
                if pod_ran is not None:
                    sub = _step(pod, f"Run pod {pod}", None)
                    pod_log = f"{console}/k8s/ns/{namespace}/pods/{pod}/logs"
                    substeps.append(fill(sub, pod_ran, pod in failed_pods, pod_log))
        failed = any(sub["failed"] for sub in substeps)
        graph.append(fill(step, span, failed, log))
        if substeps:
            step["substeps"] = substeps
    return graph


def graph_for(build: SandboxBuild) -> list[dict] | None:
    """The step graph the sandbox stores for a build, the same on every call. None while it
    runs, when crier wrote its finished.json (no ci-operator ran), or (about 10 %) by chance.
    Each build draws from its own generator, so graphs never shift the rest of a world."""
    finished = build.finished_json
    if finished is None or build.finished is None or build.result is None:
        return None
    if finished.get("metadata", {}).get("uploader") == "crier":
        return None
    name = build.job
    test = name.split("-master-", 1)[1] if "-master-" in name else name.rsplit("-", 1)[-1]
    rng = random.Random(f"stepgraph-{build.id}")
    return make_step_graph(
        rng, started=build.started, finished=build.finished, result=build.result, test_name=test
    )


def graph_gzipped(build: SandboxBuild) -> bool:
    """Some graphs are stored gzip-compressed, as GCS uploads of big files are."""
    return zlib.crc32(build.id.encode()) % 4 == 0


def graph_bytes(graph: list[dict]) -> bytes:
    """The graph file as ci-operator writes it with Go's encoding/json."""
    return go_json(graph).encode()


__all__ = ["graph_bytes", "graph_for", "graph_gzipped", "make_step_graph"]
