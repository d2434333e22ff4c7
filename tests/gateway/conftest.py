"""Fixtures of the gateway's tests: a directory for property tests' store files, the scripted agent,
and a real PostgreSQL server (one per session) with a fresh database per test that asks."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.engine import scripted_agent
from tests.support.postgres import create_database, postgres_server

_databases = itertools.count()


@pytest.fixture(scope="module")
def store_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="engine-properties-") as path:
        yield Path(path)


@pytest_asyncio.fixture(scope="module")
async def agent_address() -> AsyncIterator[str]:
    async with scripted_agent() as address:
        yield address


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_database(postgres_url: str) -> str:
    """The URL of a new, empty database on the session's server."""
    return create_database(postgres_url, f"test_{next(_databases)}")
