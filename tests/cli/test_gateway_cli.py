"""`agentmesh gateway` from the command line: mesh files, health, reflection, and clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

from agentmesh import health
from agentmesh_cli.process import ServerProcess
from tests.support.mesh import Gateway, kinds, list_services, run_cli, running_gateway, start_probe


async def test_a_mesh_file_configures_agents_store_and_workflows(tmp_path: Path) -> None:
    probe = await start_probe(tmp_path / "probe.jsonl")
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "hello.yaml").write_text(
        "name: hello\nsteps:\n  - id: greet\n    agent: probe\n    skill: echo\n"
        "    input: {key: hello, value: hi}\n"
    )
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(
        f"gateway:\n  store: data/gw.db\nagents:\n  probe: 127.0.0.1:{probe.port}\nworkflows: [flows/]\n"
    )
    try:
        async with running_gateway(None, {}, ["--config", str(mesh)]) as gateway:
            await check_gateway(gateway)
    finally:
        await probe.stop()
    assert (tmp_path / "data" / "gw.db").exists()  # the store's directory was created, relative to the file


async def check_gateway(gateway: Gateway) -> None:
    assert await health.check(gateway.channel) == health.SERVING
    assert await health.check(gateway.channel, "agentmesh.v1.OrchestratorService") == health.SERVING
    assert "agentmesh.v1.OrchestratorService" in await list_services(gateway.channel)
    names = [w.name for w in await gateway.client.list_workflows()]
    assert "hello" in names
    run = await gateway.start_run("hello")
    assert kinds(await gateway.events(run.run_id))[-1] == "run_completed"


def test_a_bad_mesh_file_is_one_clear_line(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text("agents:\n  probe: []\n")
    result = run_cli("gateway", "--config", str(mesh), timeout=30)
    assert result.returncode == 2
    assert "agents.probe" in result.stderr and "Traceback" not in result.stderr


async def test_an_invalid_workflow_file_stops_the_gateway_with_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nstepz: []\n")
    process = ServerProcess(
        [
            sys.executable,
            "-m",
            "agentmesh_cli",
            "gateway",
            "--port",
            "0",
            "--store",
            str(tmp_path / "gw.db"),
            "--workflows",
            str(bad),
        ]
    )
    try:
        await process.start()
        raise AssertionError("the gateway started with an unreadable workflow file")
    except RuntimeError:
        pass
    assert process.returncode == 1
    assert "stepz" in process.logged("cannot serve")[0]["error"]
