"""StepGraphReader: a step graph read as it streams in, keeping only what the mapping needs."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from collections.abc import Iterator

import pytest

from crawler.logilica.stages import step_stages
from crawler.prow.stepgraph import SMALL_GRAPH_BYTES, StepGraphReader

STEP = {
    "name": "e2e-aws",
    "description": "Run multi-stage test e2e-aws",
    "dependencies": ["[images]"],
    "started_at": "2026-07-30T08:00:00.123456789Z",
    "finished_at": "2026-07-30T09:10:00Z",
    "duration": 4199876543211,
    "failed": True,
    "log_url": "https://console/logs",
    "manifests": [{"kind": "Pod", "spec": {"containers": [{"name": "x" * 500}]}}],
    "substeps": [
        {
            "name": "e2e-aws-ipi-install-install",
            "started_at": "2026-07-30T08:01:00Z",
            "finished_at": "2026-07-30T08:50:00Z",
            "failed": True,
            "manifests": None,
            "log_url": "https://console/pods/install",
        }
    ],
}
GRAPH = [{"name": "src", "started_at": "2026-07-30T07:55:00Z", "finished_at": None}, STEP]


# Both ways of reading: parsed whole (a small graph, the usual case) and streamed.
WAYS = pytest.mark.parametrize("small", [SMALL_GRAPH_BYTES, 0], ids=["whole", "streamed"])


def read(body: bytes, size: int = 100, **kw: int) -> object:
    reader = StepGraphReader(**kw)
    for i in range(0, len(body), size):
        reader.feed(body[i : i + size])
    return reader.result()


@WAYS
@pytest.mark.parametrize("squeeze", [False, True])
@pytest.mark.parametrize("size", [1, 7, 100, 10**6])
def test_keeps_only_the_fields_the_mapping_reads(squeeze: bool, size: int, small: int) -> None:
    body = json.dumps(GRAPH).encode()
    body = gzip.compress(body) if squeeze else body
    kept = read(body, size, small=small)
    assert kept == [
        {"name": "src", "started_at": "2026-07-30T07:55:00Z", "finished_at": None},
        {
            "name": "e2e-aws",
            "started_at": "2026-07-30T08:00:00.123456789Z",
            "finished_at": "2026-07-30T09:10:00Z",
            "failed": True,
            "substeps": [
                {
                    "name": "e2e-aws-ipi-install-install",
                    "started_at": "2026-07-30T08:01:00Z",
                    "finished_at": "2026-07-30T08:50:00Z",
                    "failed": True,
                }
            ],
        },
    ]
    assert step_stages(kept, build_id="1", url="u") == step_stages(GRAPH, build_id="1", url="u")


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        (b'[{"name": "src", "started_at": ', "not valid JSON"),
        (b'{"name": "src"}', "not a list of steps"),
        (b"\x1f\x8b\x08\x00garbage-garbage-garbage", "corrupt gzip"),
        (b"<html>proxy error</html>", "not valid JSON"),
    ],
)
@WAYS
def test_unreadable_graphs_raise_value_error(body: bytes, phrase: str, small: int) -> None:
    with pytest.raises(ValueError, match=phrase):
        read(body, small=small)


def test_a_graph_growing_past_the_small_size_switches_to_streaming_midway() -> None:
    body = json.dumps([STEP] * 40).encode()
    assert len(body) > 10_000
    whole = read(body, size=999)
    assert read(body, size=999, small=10_000) == whole == read(body, size=999, small=0)
    assert len(whole) == 40 and "manifests" not in whole[0]


def test_an_empty_body_is_no_graph() -> None:
    assert StepGraphReader().result() is None


@WAYS
@pytest.mark.parametrize("squeeze", [False, True])
def test_the_cap_counts_what_is_parsed(squeeze: bool, small: int) -> None:
    body = json.dumps([STEP] * 50).encode()
    assert len(body) > 20_000
    body = gzip.compress(body) if squeeze else body
    with pytest.raises(ValueError, match="larger than 20000 bytes"):
        read(body, cap=20_000, small=small)
    assert read(body, cap=len(json.dumps([STEP] * 50)), small=small)


def _huge_graph(steps: int, manifest_bytes: int) -> Iterator[bytes]:
    """A graph whose steps carry big manifests (many Kubernetes objects), produced chunk by
    chunk, never whole."""
    resource = json.dumps({"kind": "ConfigMap", "data": {"script.sh": "echo " + "x" * 1000}})
    per_chunk = ",".join([resource] * 60).encode()
    yield b"["
    for n in range(steps):
        step = {k: v for k, v in STEP.items() if k != "manifests"}
        yield json.dumps({**step, "name": f"step-{n}"})[:-1].encode() + b', "manifests": ['
        for i in range(manifest_bytes // len(per_chunk)):
            yield (b"," if i else b"") + per_chunk
        yield b"]}" + (b"," if n < steps - 1 else b"")
    yield b"]"


def test_memory_stays_flat_however_big_the_manifests() -> None:
    """Over 39 MiB of manifests in 8 steps: the reader never holds more than a chunk of them."""
    reader = StepGraphReader()
    tracemalloc.start()
    try:
        total = 0
        for chunk in _huge_graph(steps=8, manifest_bytes=5 * 2**20):
            total += len(chunk)
            reader.feed(chunk)
        graph = reader.result()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > 39 * 2**20
    assert peak < 2 * 2**20, f"peak {peak} bytes"
    stages = step_stages(graph, build_id="9", url="u")
    assert stages is not None and [s["name"] for s in stages] == [f"step-{n}" for n in range(8)]
