"""The batcher: when a partly filled batch goes, and when it keeps filling.

Lingers here are a minute long, so "it went at once" cannot be the linger timer firing; "it
did not go" is checked after the event loop has had every chance to run the uploader.
"""

from __future__ import annotations

import asyncio

import pytest

from crawler.logilica.batcher import Batcher
from crawler.state.ledger import BuildTask
from tests.unit.factories import build_ref

MINUTE = 60.0


def task(n: int) -> BuildTask:
    return BuildTask(ledger=None, ref=build_ref(n))  # type: ignore[arg-type]


async def settle() -> None:
    """Let every ready task run until all wait on something."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_partial_batch_goes_at_once_when_nothing_more_can_join_it():
    b = Batcher(50, MINUTE, capacity=200)
    await b.expect(3)
    uploader = asyncio.create_task(b.get())
    for n in (1, 2):
        await b.add("repo-a", task(n))
        await b.landed()
    await settle()
    assert not uploader.done()  # a third build is still being downloaded
    await b.landed()  # ... and it failed: nothing more can join
    batch = await asyncio.wait_for(uploader, 5)
    assert batch is not None and [t.ref.id for t in batch.tasks] == ["1", "2"]


async def test_a_full_batch_goes_while_downloads_continue():
    b = Batcher(2, MINUTE, capacity=200)
    await b.expect(10)
    for n in range(3):
        await b.add("repo-a", task(n))
    batch = await asyncio.wait_for(b.get(), 5)
    assert batch is not None and len(batch.tasks) == 2


async def test_after_its_linger_a_batch_goes_only_if_the_rate_spares_a_slot_for_every_other():
    free = {"slots": 2}
    b = Batcher(50, 0.0, capacity=200, free_slots=lambda: free["slots"])
    await b.expect(10)
    await b.add("repo-a", task(1))
    await b.add("repo-b", task(2))
    uploader = asyncio.create_task(b.get())
    await settle()
    # Two open batches, two slots: sending one early would leave the other's final flush
    # waiting for the window.
    assert not uploader.done()
    free["slots"] = 3
    batch = await asyncio.wait_for(uploader, 5)
    assert batch is not None and len(batch.tasks) == 1


async def test_at_capacity_the_fullest_batch_goes_so_downloads_never_wait_for_ever():
    b = Batcher(4, MINUTE, capacity=4, free_slots=lambda: 0)
    await b.expect(10)
    for repo, n in (("repo-a", 1), ("repo-b", 2), ("repo-b", 3), ("repo-c", 4)):
        await b.add(repo, task(n))
    adding = asyncio.create_task(b.add("repo-c", task(5)))
    await settle()
    assert not adding.done()  # at capacity: the download waits
    batch = await asyncio.wait_for(b.get(), 5)
    assert batch is not None and batch.repo_id == "repo-b"
    await asyncio.wait_for(adding, 5)


async def test_close_sends_everything_then_ends():
    b = Batcher(50, MINUTE, capacity=200)
    await b.expect(5)
    await b.add("repo-a", task(1))
    await b.close()
    batch = await asyncio.wait_for(b.get(), 5)
    assert batch is not None and batch.repo_id == "repo-a"
    assert await asyncio.wait_for(b.get(), 5) is None


@pytest.mark.parametrize("repos", [1, 10])
async def test_a_small_run_needs_one_post_per_repository(repos):
    """Builds of `repos` repositories arrive interleaved while four uploaders wait; each
    repository goes out once, as soon as the last download is over (no linger, no close)."""
    b = Batcher(50, MINUTE, capacity=1000, free_slots=lambda: repos)
    sent: list[tuple[str, int]] = []

    async def uploader() -> None:
        while (batch := await b.get()) is not None:
            sent.append((batch.repo_id, len(batch.tasks)))

    uploaders = [asyncio.create_task(uploader()) for _ in range(4)]
    await b.expect(20 * repos)
    for n in range(20 * repos):
        await b.add(f"repo-{n % repos}", task(n))
        await b.landed()
        await settle()
        assert sent == [] or n == 20 * repos - 1
    await settle()
    assert sorted(sent) == sorted((f"repo-{r}", 20) for r in range(repos))
    await b.close()
    await asyncio.wait_for(asyncio.gather(*uploaders), 5)
