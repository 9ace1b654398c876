"""Shared by the sandbox self-tests: one default sandbox per test module (each module resets
what it changes after every test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crawler.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb
