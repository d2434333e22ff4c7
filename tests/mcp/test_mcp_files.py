"""Files through the gateway's MCP surface, with the `mcp` SDK's client: a workflow tool's answer
carries its steps' files after its outputs (text bytes as an embedded text resource, binary bytes
as an embedded blob, a URL as a resource link), and get_run names them without their bytes."""

from __future__ import annotations

import base64
import json

import pytest
from mcp_types import BlobResourceContents, EmbeddedResource, ResourceLink, TextContent, TextResourceContents

from tests.mcp.conftest import McpGateway

MODES = ["legacy", "auto"]


@pytest.mark.parametrize("mode", MODES)
async def test_a_workflow_tool_answers_with_its_steps_files(gateway: McpGateway, mode: str) -> None:
    async with gateway.client(mode=mode) as client:
        result = await client.call_tool("files", {"key": f"files-{mode}"})
    assert not result.is_error, result.content
    assert result.structured_content == {"key": f"files-{mode}"}
    assert result.meta is not None
    run_id = result.meta["agentmesh/run_id"]
    outputs, report, chart, link = result.content
    assert isinstance(outputs, TextContent) and json.loads(outputs.text) == {"key": f"files-{mode}"}

    # Text bytes are embedded as text, named by a URI of the run, the step and the file.
    assert isinstance(report, EmbeddedResource) and isinstance(report.resource, TextResourceContents)
    assert report.resource.text == "a report" and report.resource.mime_type == "text/plain"
    assert report.resource.uri == f"agentmesh://runs/{run_id}/steps/report/files/0/report.txt"
    assert report.meta == {"agentmesh/step_id": "report", "agentmesh/filename": "report.txt"}
    # Binary bytes as a base64 blob.
    assert isinstance(chart, EmbeddedResource) and isinstance(chart.resource, BlobResourceContents)
    assert base64.b64decode(chart.resource.blob) == b"xxx" and chart.resource.mime_type == "image/png"
    assert chart.resource.uri == f"agentmesh://runs/{run_id}/steps/chart/files/0/chart.png"
    # A URL as a link to it.
    assert isinstance(link, ResourceLink)
    assert (link.uri, link.name, link.mime_type) == (
        "https://example.com/chart.png",
        "chart.png",
        "image/png",
    )
    assert link.meta == {"agentmesh/step_id": "chart", "agentmesh/filename": "chart.png"}


async def test_get_run_names_a_steps_files_without_their_bytes(gateway: McpGateway) -> None:
    async with gateway.client() as client:
        made = await client.call_tool("files", {"key": "files-view"})
        assert made.meta is not None
        run_id = made.meta["agentmesh/run_id"]
        viewed = await client.call_tool("get_run", {"run_id": run_id})
    assert not viewed.is_error and isinstance(viewed.structured_content, dict)
    steps = {step["step_id"]: step for step in viewed.structured_content["steps"]}
    assert steps["report"]["files"] == [
        {
            "filename": "report.txt",
            "media_type": "text/plain",
            "uri": f"agentmesh://runs/{run_id}/steps/report/files/0/report.txt",
            "size": 8,
        }
    ]
    assert [f.get("url") for f in steps["chart"]["files"]] == [None, "https://example.com/chart.png"]
