"""Fixtures of the engine's property tests: a directory for their store files, and the scripted agent."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.engine import scripted_agent


@pytest.fixture(scope="module")
def store_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="engine-properties-") as path:
        yield Path(path)


@pytest_asyncio.fixture(scope="module")
async def agent_address() -> AsyncIterator[str]:
    async with scripted_agent() as address:
        yield address
