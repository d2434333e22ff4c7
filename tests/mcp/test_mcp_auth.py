"""MCP with the gateway's authentication on: the same bearer tokens as every surface (401 without
one), roles per operation (a viewer lists and reads, an operator runs and cancels), and tenant
isolation (a principal finds only its own runs)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
import pytest_asyncio
from mcp.shared.exceptions import MCPError
from mcp_types import TextContent

from agentmesh_gateway.auth.static_tokens import new_token, token_hash
from tests.mcp.conftest import McpGateway, mcp_gateway

ROLES = {"alice": "operator", "bob": "operator", "vera": "viewer", "root": "admin"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"},
    },
}
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


@pytest_asyncio.fixture(scope="module")
async def secured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[McpGateway]:
    workdir = tmp_path_factory.mktemp("mcp-auth")
    tokens = {name: new_token() for name in ROLES}
    entries = [{"name": name, "role": ROLES[name], "sha256": token_hash(t)} for name, t in tokens.items()]
    (workdir / "tokens.yaml").write_text(json.dumps({"tokens": entries}))
    args = ["--auth-tokens", str(workdir / "tokens.yaml"), "--tenant-isolation"]
    async with mcp_gateway(workdir, args) as running:
        running.tokens = tokens
        yield running


def text_of(result: Any) -> str:
    assert isinstance(result.content[0], TextContent)
    return str(result.content[0].text)


async def test_without_a_valid_token_mcp_answers_401(secured: McpGateway) -> None:
    async with httpx2.AsyncClient() as http:
        missing = await http.post(secured.url, json=INITIALIZE, headers=MCP_HEADERS)
        wrong = await http.post(
            secured.url, json=INITIALIZE, headers={**MCP_HEADERS, "authorization": f"Bearer {new_token()}"}
        )
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["reason"] == "MISSING_CREDENTIALS"
    assert wrong.status_code == 401 and wrong.json()["reason"] == "INVALID_TOKEN"


async def test_a_session_answers_only_the_principal_that_opened_it(secured: McpGateway) -> None:
    alice = {**MCP_HEADERS, "authorization": f"Bearer {secured.tokens['alice']}"}
    bob = {**MCP_HEADERS, "authorization": f"Bearer {secured.tokens['bob']}"}
    async with httpx2.AsyncClient() as http:
        opened = await http.post(secured.url, json=INITIALIZE, headers=alice)
        assert opened.status_code == 200
        session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        hijacked = await http.post(secured.url, json=listing, headers={**bob, **session})
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        own = await http.post(secured.url, json=initialized, headers={**alice, **session})
    assert hijacked.status_code == 404
    assert own.status_code == 202


async def test_a_viewer_may_list_tools_and_read_runs_but_not_run_or_cancel(secured: McpGateway) -> None:
    async with secured.client(secured.tokens["vera"]) as viewer:
        listed = await viewer.list_tools()
        assert "greet" in {tool.name for tool in listed.tools}
        runs = await viewer.call_tool("list_runs", {})
        assert not runs.is_error, text_of(runs)
        with pytest.raises(MCPError) as denied:
            await viewer.call_tool("greet", {"name": "vera"})
        with pytest.raises(MCPError) as cancel_denied:
            await viewer.call_tool("cancel_run", {"run_id": "0" * 32})
    assert denied.value.code == -32003
    assert denied.value.message == "permission denied: 'vera' is a viewer, and greet needs the operator role"
    assert denied.value.data == {
        "code": "PERMISSION_DENIED",
        "reason": "ROLE_REQUIRED",
        "role": "viewer",
        "required": "operator",
    }
    assert "operator" in cancel_denied.value.message
    async with secured.mesh(secured.tokens["root"]) as mesh:
        assert not [run async for run in mesh.list_runs() if run.principal == "vera"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_an_operator_runs_workflows_as_itself(secured: McpGateway, mode: str) -> None:
    async with secured.client(secured.tokens["alice"], mode=mode) as alice:
        result = await alice.call_tool("greet", {"name": f"alice-{mode}"})
    assert not result.is_error, text_of(result)
    assert result.structured_content == {"said": "hello", "who": f"alice-{mode}"}
    assert result.meta is not None
    async with secured.mesh(secured.tokens["root"]) as mesh:
        run = await mesh.get_run(result.meta["agentmesh/run_id"])
    assert run.principal == "alice"
    assert {r["principal"] for r in secured.probe_records(f"alice-{mode}")} == {"alice"}


async def test_a_principal_finds_only_its_own_runs(secured: McpGateway) -> None:
    async with secured.client(secured.tokens["alice"]) as alice:
        result = await alice.call_tool("greet", {"name": "private"})
        assert result.meta is not None
        run_id = result.meta["agentmesh/run_id"]
        own = await alice.call_tool("get_run", {"run_id": run_id})
    async with secured.client(secured.tokens["bob"]) as bob:
        seen = await bob.call_tool("get_run", {"run_id": run_id})
        listed = await bob.call_tool("list_runs", {})
        cancelled = await bob.call_tool("cancel_run", {"run_id": run_id})
    async with secured.client(secured.tokens["root"]) as root:
        admin = await root.call_tool("get_run", {"run_id": run_id})

    assert not own.is_error and own.structured_content["run_id"] == run_id
    assert seen.is_error and text_of(seen) == f"NOT_FOUND: no run '{run_id}'"
    assert not listed.is_error and run_id not in {run["run_id"] for run in listed.structured_content["runs"]}
    assert cancelled.is_error and "NOT_FOUND" in text_of(cancelled)
    assert not admin.is_error and admin.structured_content["run_id"] == run_id  # an admin sees every run
