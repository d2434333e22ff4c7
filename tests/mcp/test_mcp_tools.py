"""The gateway's workflows as MCP tools, through real processes: the gateway with its HTTP port,
the probe agent, and the `mcp` SDK's client over streamable HTTP, on a handshake protocol version
(`legacy`: a session) and on 2026-07-28 (`auto`: no session)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, TextContent
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from agentmesh.client import RunState
from tests.mcp.conftest import McpGateway, logged_when, mcp_gateway, run_when

MODES = ["legacy", "auto"]
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def text_of(result: Any) -> str:
    assert isinstance(result.content[0], TextContent)
    return str(result.content[0].text)


async def test_each_workflow_is_a_tool_with_schemas_from_its_inputs_and_outputs(gateway: McpGateway) -> None:
    async with gateway.client() as client:
        listed = await client.list_tools()
    tools = {tool.name: tool for tool in listed.tools}
    assert {"get_run", "list_runs", "cancel_run", "greet", "slow", "broken", "anything", "report_v2"} <= set(
        tools
    )
    assert "research" in tools  # the shipped workflows too

    greet = tools["greet"]
    assert greet.description is not None and greet.description.startswith("Greets someone, twice.")
    assert greet.input_schema == {
        "type": "object",
        "properties": {
            "name": {"description": "Who to greet."},
            "greeting": {"description": "What to say.", "default": "hello"},
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    assert greet.output_schema is not None
    assert greet.output_schema["properties"] == {"said": {}, "who": {}}
    assert greet.output_schema["required"] == ["said", "who"]

    anything = tools["anything"]  # no inputs declared: any object; no outputs: its last steps'
    assert anything.input_schema == {"type": "object"}
    assert anything.output_schema is not None and anything.output_schema["required"] == ["only"]

    spaced = tools["report_v2"]  # "report v2" is not a valid tool name
    assert spaced.title == "report v2" and spaced.meta == {"agentmesh/workflow": "report v2"}

    assert tools["get_run"].input_schema["required"] == ["run_id"]
    assert set(tools["list_runs"].input_schema["properties"]) == {"state", "page_size", "page_token"}
    assert tools["get_run"].annotations is not None and tools["get_run"].annotations.read_only_hint


@pytest.mark.parametrize("mode", MODES)
async def test_a_workflow_tool_runs_the_workflow_and_answers_with_its_outputs(
    gateway: McpGateway, mode: str
) -> None:
    notes: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append((progress, total, message))

    async with gateway.client(mode=mode) as client:
        versions = HANDSHAKE_PROTOCOL_VERSIONS if mode == "legacy" else MODERN_PROTOCOL_VERSIONS
        assert client.protocol_version in versions
        result = await client.call_tool("greet", {"name": f"ada-{mode}"}, progress_callback=on_progress)

    assert not result.is_error, text_of(result)
    assert result.structured_content == {"said": "hello", "who": f"ada-{mode}"}
    assert json.loads(text_of(result)) == result.structured_content
    assert result.meta is not None and result.meta["agentmesh/state"] == "SUCCEEDED"
    run_id = result.meta["agentmesh/run_id"]

    async with asyncio.timeout(5):  # notifications are delivered apart from the answer
        while len(notes) < 3:
            await asyncio.sleep(0.02)
    assert [(done, total) for done, total, _ in notes] == [(0, 2), (1, 2), (2, 2)]
    assert notes[0][2] == f"run {run_id} started"
    assert [message for _, _, message in notes[1:]] == ["step first succeeded", "step second succeeded"]

    async with gateway.mesh() as mesh:  # the stored run may lag its events a little
        run = await run_when(mesh, run_id, lambda run: run.state.finished)
    assert run.state == RunState.SUCCEEDED and run.workflow_name == "greet"
    assert run.outputs == {"said": "hello", "who": f"ada-{mode}"}


async def test_without_a_progress_token_the_call_just_answers(gateway: McpGateway) -> None:
    async with gateway.client() as client:
        result = await client.call_tool("anything", {"whatever": [1, 2]})  # any inputs at all
    assert not result.is_error, text_of(result)
    assert result.structured_content == {"only": {"key": "anything", "value": 7}}


async def test_tools_list_refuses_a_cursor_it_did_not_give(gateway: McpGateway) -> None:
    async with gateway.client() as client:
        with pytest.raises(MCPError) as refused:
            await client.list_tools(cursor="bogus")
    assert refused.value.code == INVALID_PARAMS


async def test_a_local_gateway_without_auth_refuses_other_host_names(gateway: McpGateway) -> None:
    """DNS rebinding: a web page's own name resolving to 127.0.0.1 must not reach the tools."""
    port = gateway.process.logged("http listening")[0]["port"]
    async with httpx2.AsyncClient() as http:
        rebound = await http.post(
            gateway.url, json={}, headers={**MCP_HEADERS, "host": f"evil.example:{port}"}
        )
    assert rebound.status_code == 421


async def test_a_run_waiting_for_input_ends_the_call_with_its_question(gateway: McpGateway) -> None:
    async with gateway.client() as client:
        result = await client.call_tool("asking", {"key": "asked"})
    assert result.is_error and result.meta is not None
    run_id = result.meta["agentmesh/run_id"]
    assert result.meta["agentmesh/state"] == "WAITING_FOR_INPUT"
    text = text_of(result)
    assert text.startswith(f"Run {run_id} waits for input:\n- step pick asks: Which plan? (1 of 1)"), text
    async with gateway.mesh() as mesh:  # still there to be answered
        await run_when(mesh, run_id, lambda run: run.state == RunState.WAITING_FOR_INPUT)


async def test_a_failing_workflow_is_a_tool_error(gateway: McpGateway) -> None:
    async with gateway.client() as client:
        result = await client.call_tool("broken", {})
    assert result.is_error
    text = text_of(result)
    assert "failed in step boom" in text and "FAILED_PRECONDITION" in text and "told to fail" in text, text
    assert result.meta is not None and result.meta["agentmesh/state"] == "FAILED"
    assert result.meta["agentmesh/error"]["step_id"] == "boom"
    async with gateway.mesh() as mesh:
        run = await run_when(mesh, result.meta["agentmesh/run_id"], lambda run: run.state.finished)
    assert run.state == RunState.FAILED


async def test_bad_inputs_are_a_tool_error_naming_the_fields_and_store_no_run(gateway: McpGateway) -> None:
    async with gateway.mesh() as mesh:
        before = [run.run_id async for run in mesh.list_runs()]
    async with gateway.client() as client:
        result = await client.call_tool("greet", {"greeting": "hi", "bogus": 1})
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("no-such-workflow", {})
    assert result.is_error
    text = text_of(result)
    assert "inputs.name" in text and "inputs.bogus" in text, text
    assert result.meta is not None and "agentmesh/run_id" not in result.meta
    error = result.meta["agentmesh/error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert {v["field"] for v in error["violations"]} == {"inputs.name", "inputs.bogus"}
    assert unknown.value.code == INVALID_PARAMS and "no-such-workflow" in unknown.value.message
    async with gateway.mesh() as mesh:
        assert [run.run_id async for run in mesh.list_runs()] == before


async def test_get_run_and_list_runs_read_runs(gateway: McpGateway) -> None:
    async with gateway.client() as client:
        done = await client.call_tool("greet", {"name": "grace"})
        assert done.meta is not None
        run_id = done.meta["agentmesh/run_id"]
        got = await client.call_tool("get_run", {"run_id": run_id})
        async with asyncio.timeout(10):  # the stored run may lag its events a little
            while got.structured_content["state"] != "SUCCEEDED":
                await asyncio.sleep(0.05)
                got = await client.call_tool("get_run", {"run_id": run_id})
        listed = await client.call_tool("list_runs", {"state": "succeeded", "page_size": 1})
        missing = await client.call_tool("get_run", {"run_id": "0" * 32})
        bad = await client.call_tool("list_runs", {"page_size": 0, "colour": "red"})

    assert not got.is_error, text_of(got)
    view = got.structured_content
    assert view["run_id"] == run_id and view["workflow"] == "greet" and view["state"] == "SUCCEEDED"
    assert view["outputs"] == {"said": "hello", "who": "grace"}
    assert view["inputs"] == {"name": "grace", "greeting": "hello"}
    assert [(s["step_id"], s["state"]) for s in view["steps"]] == [
        ("first", "SUCCEEDED"),
        ("second", "SUCCEEDED"),
    ]
    assert view["steps"][0]["output"] == {"key": "grace", "value": "hello"}
    assert json.loads(text_of(got)) == view

    assert not listed.is_error, text_of(listed)
    page = listed.structured_content
    assert [run["run_id"] for run in page["runs"]] == [run_id]  # newest first
    assert page["runs"][0]["state"] == "SUCCEEDED" and page["next_page_token"]

    assert missing.is_error and "no run" in text_of(missing)
    assert missing.meta is not None and missing.meta["agentmesh/error"]["code"] == "NOT_FOUND"
    assert bad.is_error and "colour" in text_of(bad)


@pytest.mark.parametrize("mode", MODES)
async def test_a_call_the_client_cancels_cancels_its_run(gateway: McpGateway, mode: str) -> None:
    key = f"cancelled-{mode}"
    run_ids: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if message is not None and message.endswith(" started"):
            run_ids.append(message.split()[1])

    async with gateway.client(mode=mode) as client:
        call = asyncio.create_task(client.call_tool("slow", {"key": key}, progress_callback=on_progress))
        await logged_when(gateway, key, "started")  # the agent is working on it
        async with asyncio.timeout(5):  # the first progress message names the run
            while not run_ids:
                await asyncio.sleep(0.02)
        call.cancel()  # the SDK sends notifications/cancelled (legacy) or closes the stream (2026)
        with pytest.raises(asyncio.CancelledError):
            await call
        async with gateway.mesh() as mesh:
            run = await run_when(mesh, run_ids[0], lambda run: run.state.finished)
    assert run.state == RunState.CANCELLED
    await logged_when(gateway, key, "cancelled")  # the agent's call was cancelled with it
    # The gateway logs the cancelled call as its handler unwinds: no sooner than the run ends.
    async with asyncio.timeout(10):
        while not gateway.process.logged("mcp call cancelled: run cancelled"):
            await asyncio.sleep(0.02)


async def test_cancel_run_cancels_a_run(gateway: McpGateway) -> None:
    key = "cancel-tool"
    async with gateway.client() as client:
        call = asyncio.create_task(client.call_tool("slow", {"key": key}))
        await logged_when(gateway, key, "started")
        listed = await client.call_tool("list_runs", {"state": "RUNNING"})
        [running] = [run for run in listed.structured_content["runs"] if run["workflow"] == "slow"]
        cancelled = await client.call_tool("cancel_run", {"run_id": running["run_id"], "reason": "enough"})
        result = await call
    assert not cancelled.is_error, text_of(cancelled)
    assert result.is_error and text_of(result) == f"Run {running['run_id']} was cancelled: enough"
    assert result.meta is not None and result.meta["agentmesh/state"] == "CANCELLED"


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
async def test_a_gateway_stopping_mid_call_leaves_the_run_to_its_next_start(
    tmp_path_factory: pytest.TempPathFactory, mode: str
) -> None:
    workdir = tmp_path_factory.mktemp("mcp-stop")
    store = workdir / "runs.db"
    async with mcp_gateway(workdir / "first", store=store) as first:
        async with first.client(mode=mode) as client:
            call = asyncio.create_task(client.call_tool("slow", {"key": "stopping"}))
            await logged_when(first, "stopping", "started")
            async with asyncio.timeout(10):
                assert await first.process.stop() == 0  # promptly, with the call in flight
            result = await call
        assert result.is_error and result.meta is not None
        run_id = result.meta["agentmesh/run_id"]
        assert text_of(result).startswith(f"The gateway is stopping. Run {run_id} is not cancelled")
        assert not first.process.logged("mcp call cancelled: run cancelled")
        assert not [entry for entry in first.process.logs if entry.get("level") in ("error", "critical")]
    async with mcp_gateway(workdir / "second", store=store) as second, second.mesh() as mesh:
        run = await mesh.get_run(run_id)
        assert run.state == RunState.RUNNING  # resumed, not cancelled
