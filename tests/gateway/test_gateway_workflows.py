"""The shipped workflows, end to end: the seven agents and the gateway, each started from the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from agentmesh.health import wait_serving
from agentmesh.messages import struct_to_dict
from agentmesh.v1 import run_pb2
from agentmesh_cli.process import ServerProcess
from agentmesh_services import AGENTS
from tests.cli.test_grpcurl import grpcurl, readme_grpcurl_commands
from tests.support.mesh import kinds, running_gateway

RESEARCH_INPUTS = {"topic": "Benefits of open source", "depth": "quick", "max_subtopics": 2}


@pytest_asyncio.fixture(scope="module")
async def agent_ports() -> AsyncIterator[dict[str, list[int]]]:
    # A little simulated thinking time gives the kill -9 test a run to interrupt.
    env = {**os.environ, "AGENTMESH_OFFLINE_LATENCY_MS": "150"}
    processes = {name: ServerProcess.agent(name, env=env) for name in AGENTS}
    try:
        for process in processes.values():
            await process.start()
            await wait_serving(f"127.0.0.1:{process.port}")
        yield {name: [process.port] for name, process in processes.items()}
    finally:
        for process in processes.values():
            await process.stop()


async def test_research_streams_gapless_events_and_watch_resumes_after_a_sequence(
    agent_ports: dict[str, list[int]], tmp_path: Path
) -> None:
    async with running_gateway(tmp_path / "gateway.db", agent_ports) as gateway:
        async with asyncio.timeout(60):  # RunWorkflow: started and followed in one call
            events = [e.proto async for e in gateway.client.stream("research", RESEARCH_INPUTS)]
        run_id = events[0].run_id
        replayed = await gateway.events(run_id, after=3)
        run = await gateway.get_run(run_id)
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert kinds(events)[0] == "run_started" and kinds(events)[-1] == "run_completed"
    assert replayed[0].sequence == 4 and replayed == events[3:]
    research_items = sorted(e.step_started.item for e in events if e.step_started.step_id == "research")
    assert research_items == [0, 1]
    assert "step_output_chunk" in kinds(events)  # the writer streams its draft
    outputs = struct_to_dict(run.outputs)
    assert outputs["report"].startswith("# Benefits of open source")
    assert "## Conclusion" in outputs["report"]  # the offline critic asked for a revision
    assert outputs["revised"] is True
    assert [s.state for s in run.steps].count(run_pb2.STEP_STATE_SUCCEEDED) == 6


async def test_trend_analysis_runs_the_content_systems_example(
    agent_ports: dict[str, list[int]], tmp_path: Path
) -> None:
    async with running_gateway(tmp_path / "gateway.db", agent_ports) as gateway:
        run = await gateway.start_run("trend-analysis")
        events = await gateway.events(run.run_id)
        finished = await gateway.get_run(run.run_id)
    assert kinds(events)[-1] == "run_completed"
    outputs = struct_to_dict(finished.outputs)
    assert len(outputs["trends"]) == 5
    assert outputs["script"]["format"] == "unboxing"
    assert {post["platform"] for post in outputs["schedule"]} == {"tiktok", "instagram"}
    discovery = finished.workflow.steps[0]
    assert (discovery.retry.max_attempts, discovery.retry.backoff_multiplier) == (3, 2)


async def test_research_survives_kill_9_of_the_gateway(
    agent_ports: dict[str, list[int]], tmp_path: Path
) -> None:
    store = tmp_path / "gateway.db"
    async with running_gateway(store, agent_ports) as first:
        run = await first.start_run("research", RESEARCH_INPUTS)
        await first.wait_for(run.run_id, "step_started", step_id="analyze")
        await first.process.kill()
    async with running_gateway(store, agent_ports) as second:
        events = await second.events(run.run_id)
        finished = await second.get_run(run.run_id)
    assert finished.state == run_pb2.RUN_STATE_SUCCEEDED
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert "run_resumed" in kinds(events)
    # Completed steps were not run again after the restart.
    completed = [
        e.step_completed.step_id
        for e in events
        if e.HasField("step_completed") and not e.step_completed.HasField("item")
    ]
    assert sorted(completed) == sorted(set(completed))


@pytest.mark.parametrize("name", ["research", "trend-analysis"])
async def test_shipped_workflows_validate(
    agent_ports: dict[str, list[int]], tmp_path: Path, name: str
) -> None:
    async with running_gateway(tmp_path / "gateway.db", agent_ports) as gateway:
        listed = {w.name: w for w in await gateway.client.list_workflows()}
        order = await gateway.client.validate(listed[name])
    assert order[0] in ("plan", "trend-discovery")


@pytest.mark.skipif(
    shutil.which("grpcurl") is None, reason="grpcurl is not installed; `make test` installs it"
)
async def test_the_readme_gateway_grpcurl_examples_work_as_written(
    agent_ports: dict[str, list[int]], tmp_path: Path
) -> None:
    commands = readme_grpcurl_commands("### The gateway with grpcurl")
    assert len(commands) == 8
    async with running_gateway(tmp_path / "gateway.db", agent_ports) as gateway:
        port = gateway.process.port
        listed, agents, streamed, started = [await grpcurl(c, port) for c in commands[:4]]
        run_id = json.loads(started[1])["run"]["runId" if "runId" in started[1] else "run_id"]
        watched, got, runs, cancelled = [await grpcurl(c, port, run_id) for c in commands[4:]]
    assert [r[0] for r in (listed, agents, streamed, started, watched, got, runs, cancelled)] == [0] * 8
    assert "agentmesh.v1.OrchestratorService" in listed[1]
    assert "REPLICA_HEALTH_SERVING" in agents[1]
    assert '"runCompleted"' in streamed[1] or '"run_completed"' in streamed[1]
    assert '"sequence": "4"' in watched[1]
    assert run_id in got[1] and run_id in cancelled[1]
    assert "RUN_STATE_SUCCEEDED" in runs[1]
