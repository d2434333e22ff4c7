"""One run, one trace, across every process: the gateway and a Python, a Go and a TypeScript agent
export spans by OTLP (over gRPC, then over HTTP) configured by the standard OTEL_* variables only;
a loopback receiver checks the trace id, the parent links, the root span and the starting call."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from agentmesh.client import Client
from agentmesh_cli.process import ServerProcess, StartFailed
from tests.support.mesh import local_mesh, workflow
from tests.support.otlp import otlp_receiver
from tests.support.samples import SAMPLES

AGENTS = {"python": "researcher", "go": "trend-scanner", "typescript": "video-scriptor"}
THREE = workflow(
    {
        "name": "three-languages",
        "steps": [
            {"id": name, "agent": name, "skill": SAMPLES[name].skill, "input": SAMPLES[name].valid}
            for name in AGENTS.values()
        ],
    }
)
#: OTLP's Span.SpanKind values.
SPAN_KIND_SERVER, SPAN_KIND_CLIENT = 2, 3
SERVICES = {"agentmesh-gateway", *(f"agentmesh-{name}" for name in AGENTS.values())}


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
async def test_a_run_is_one_trace_across_four_processes_in_three_languages(
    protocol: str, tmp_path: Path
) -> None:
    async with otlp_receiver(protocol) as receiver:
        env = {**os.environ, **receiver.env()}
        mesh = local_mesh(tmp_path / "runs.db", {})
        mesh.env = env
        for name in AGENTS.values():
            mesh.add_agent(name)
        async with mesh:
            async with await Client.connect(mesh.target) as client:
                run = await (await client.start(THREE)).result()
            assert run.state.name == "SUCCEEDED", run.error
            # The root is exported when the run ends, after the others: waited for by name.
            spans = await receiver.wait_for(1 + 3 + 3 + 1, SERVICES, names=frozenset({"run three-languages"}))
        trace_id = run.run_id
        in_run = [s for s in spans if s.trace_id == trace_id]
        by_id = {s.span_id: s for s in in_run}
        roots = [s for s in in_run if not s.parent_span_id]
        assert [r.name for r in roots] == ["run three-languages"], roots
        root = roots[0]
        assert root.service == "agentmesh-gateway"
        steps = [s for s in in_run if s.name.startswith("step ")]
        assert sorted(s.name for s in steps) == sorted(f"step {n}" for n in AGENTS.values())
        assert all(s.parent_span_id == root.span_id for s in steps)
        # Each call is a CLIENT span in the gateway and a SERVER span in the agent, named alike in
        # every language: what a service graph needs to draw the gateway → agent edge.
        assert {s.kind for s in steps} == {SPAN_KIND_CLIENT}
        served_names = set()
        for name in AGENTS.values():
            served = [s for s in in_run if s.service == f"agentmesh-{name}"]
            assert served, f"{name} exported no span of the run"
            parents = {by_id[s.parent_span_id].name for s in served if s.parent_span_id in by_id}
            assert parents == {f"step {name}"}, (name, served)
            calls = [s for s in served if by_id.get(s.parent_span_id) in steps]
            assert [s.kind for s in calls] == [SPAN_KIND_SERVER], (name, calls)
            served_names |= {s.name for s in calls}
        assert served_names == {"agentmesh.v1.AgentService/Invoke"}, served_names
        # Every parent a span names was exported: a collector shows no missing parent.
        assert all(s.parent_span_id in by_id for s in in_run if s.parent_span_id)
        # The run's root links to the StartRun call that created it (a span of its own trace).
        start_calls = [s for s in spans if s.name.endswith("StartRun") and s.service == "agentmesh-gateway"]
        assert start_calls and root.links == ((start_calls[0].trace_id, start_calls[0].span_id),)


@pytest.mark.parametrize("name", [*AGENTS.values(), "gateway"])
async def test_an_unknown_exporter_stops_the_process_at_start(name: str) -> None:
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "otlpp"}
    if name == "gateway":
        process = ServerProcess(local_mesh(None, {}).gateway_command(), env, name="gateway")
    else:
        process = ServerProcess.agent(name, env=env)
    with pytest.raises(StartFailed, match="exited with code 1"):
        await asyncio.wait_for(process.start(), 30)
    said = " ".join(str(entry) for entry in process.logs)
    assert "otlpp" in said and "OTEL_TRACES_EXPORTER" in said


async def test_log_lines_written_inside_a_step_carry_its_trace_and_span_ids(tmp_path: Path) -> None:
    # Tracing off: the ids still travel in traceparent, and every runtime logs them.
    mesh = local_mesh(tmp_path / "runs.db", {})
    for name in AGENTS.values():
        mesh.add_agent(name)
    bad = workflow(
        {
            "name": "bad-inputs",
            "steps": [
                # Each goes on failing: one failure must not cancel the others' calls before they arrive.
                {
                    "id": name,
                    "agent": name,
                    "skill": SAMPLES[name].skill,
                    "input": SAMPLES[name].invalid,
                    "continue_on_failure": True,
                }
                for name in AGENTS.values()
            ],
        }
    )
    async with mesh:
        async with await Client.connect(mesh.target) as client:
            run = await client.handle((await client.start(bad)).run_id).get()
            async with asyncio.timeout(30):
                while run.state.name == "RUNNING":
                    await asyncio.sleep(0.1)
                    run = await client.get_run(run.run_id)
        for name, process in mesh.agents:
            async with asyncio.timeout(10):  # a line reaches the log after the answer reached us
                while not (failed := process.logged("rpc failed")):
                    await asyncio.sleep(0.02)
            assert all(line.get("trace_id") == run.run_id for line in failed), (name, failed)
            assert all(len(str(line.get("span_id", ""))) == 16 for line in failed), (name, failed)


async def test_under_opentelemetry_instrument_health_watch_and_runs_still_work(tmp_path: Path) -> None:
    # The standard auto-instrumentation route wraps every grpc.aio server unfiltered, which broke
    # health's Watch (and so the gateway's view of its agents); agentmesh takes that wrapper back.
    instrument = str(Path(sys.executable).parent / "opentelemetry-instrument")
    async with otlp_receiver("grpc") as receiver:
        env = {**os.environ, **receiver.env()}
        agent = ServerProcess(
            [instrument, sys.executable, "-m", "agentmesh_services.researcher", "--port", "0"], env
        )
        await agent.start()
        gateway = ServerProcess(
            [instrument, sys.executable, "-m", "agentmesh_cli", "gateway", "--port", "0",
             "--store", str(tmp_path / "runs.db"), "--agent", f"researcher=127.0.0.1:{agent.port}"],
            env,
            name="gateway",
        )  # fmt: skip
        await gateway.start()
        try:
            async with await Client.connect(f"127.0.0.1:{gateway.port}") as client:
                plan = workflow(
                    {"name": "plan", "steps": [{"id": "plan", "agent": "researcher", "skill": "plan",
                                                "input": SAMPLES["researcher"].valid}]}
                )  # fmt: skip
                async with asyncio.timeout(30):
                    run = await (await client.start(plan)).result()
            assert run.state.name == "SUCCEEDED"
            spans = await receiver.wait_for(3, {"agentmesh-gateway", "agentmesh-researcher"})
            assert {s.trace_id for s in spans if s.name in ("run plan", "step plan")} == {run.run_id}
        finally:
            await gateway.stop()
            await agent.stop()
        assert agent.logged(
            "took back opentelemetry's automatic grpc.aio instrumentation; agentmesh traces its calls"
        )
        assert not [e for e in agent.logs if "Unexpected" in str(e.get("msg", ""))]
