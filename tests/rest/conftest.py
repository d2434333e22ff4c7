"""Gateways with their HTTP port for the HTTP/JSON tests: one open (no tokens), one checking
tokens with tenant isolation; each with the probe agent behind it, as real processes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from tests.support.rest import Contract, RestGateway, rest_gateway


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def rest(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RestGateway]:
    async with rest_gateway(tmp_path_factory.mktemp("rest")) as running:
        yield running


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def secured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RestGateway]:
    async with rest_gateway(tmp_path_factory.mktemp("rest-secured"), secured=True) as running:
        yield running


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def contract(rest: RestGateway) -> Contract:
    """The OpenAPI document the open gateway serves."""
    async with rest.http() as http:
        response = await http.get("/openapi.json")
    assert response.status_code == 200
    return Contract(response.json())


@pytest_asyncio.fixture(loop_scope="session")
async def http(rest: RestGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with rest.http() as client:
        yield client
