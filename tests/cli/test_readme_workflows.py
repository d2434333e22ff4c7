"""The README's "Workflows that wait, nest, and run on schedules" as a reader follows it: its mesh
file (the four research agents added, on free ports) brought up by `agentmesh up`, then each of
its command lines run as written: the workflow registered, run, approved by `respond`, its child
research run finished, and a schedule created."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentmesh.client import RunState, SyncClient
from bench.startup import free_ports
from tests.cli.test_cli import ENV, start_up
from tests.support import ROOT
from tests.support.mesh import run_cli
from tests.support.readme import example

HEADING = "## Workflows that wait, nest, and run on schedules"
EXAMPLE = ROOT / "docs/examples/reviewed-brief.yaml"


def readme_commands() -> list[list[str]]:
    """The section's command lines, as argv after `agentmesh`."""
    lines = example(HEADING, "sh").strip().splitlines()
    commands = [shlex.split(line, comments=True) for line in lines]
    assert all(argv[0] == ".venv/bin/agentmesh" for argv in commands)
    return [argv[1:] for argv in commands]


def test_the_example_file_is_the_readmes() -> None:
    assert EXAMPLE.read_text() == example(HEADING, "yaml")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """`agentmesh up` with the README's mesh file in a directory where its paths resolve."""
    workdir = tmp_path_factory.mktemp("readme-workflows")
    (workdir / "docs/examples").mkdir(parents=True)
    (workdir / "docs/examples/reviewed-brief.yaml").write_text(EXAMPLE.read_text())
    mesh_file = mesh_file_of_readme()
    ports = dict(zip(("researcher", "analyst", "writer", "critic"), free_ports(4), strict=True))
    mesh_file["agents"]["writer"]["addresses"] = [f"127.0.0.1:{ports['writer']}"]
    for name in ("researcher", "analyst", "critic"):
        mesh_file["agents"][name] = f"127.0.0.1:{ports[name]}"
    text = yaml.safe_dump(mesh_file) + f"gateway: {{port: 0, store: {workdir / 'gw.db'}}}\n"
    up, gateway = start_up(workdir, text)
    yield workdir, gateway
    up.send_signal(signal.SIGINT)
    up.wait(30)


def mesh_file_of_readme() -> dict[str, Any]:
    """The section's second YAML block (its first is the workflow)."""
    blocks = ROOT.joinpath("README.md").read_text().split(HEADING, 1)[1].split("```yaml\n")
    mesh_file: dict[str, Any] = yaml.safe_load(blocks[2].split("```", 1)[0])
    assert {"agents", "prices", "schedules", "workflows"} <= set(mesh_file)
    return mesh_file


def agentmesh(gateway: str, argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentmesh_cli", *argv, "--gateway", gateway],
        capture_output=True, text=True, timeout=120, env=ENV, cwd=cwd, check=False,
    )  # fmt: skip


def test_the_mesh_files_settings_reach_the_gateway(mesh: tuple[Path, str]) -> None:
    _, gateway = mesh
    listed = run_cli("schedule", "get", "daily-brief", "--gateway", gateway, env=ENV)
    assert listed.returncode == 0, listed.stderr
    schedule = json.loads(listed.stdout)
    assert (schedule["workflow_name"], schedule["time_zone"]) == ("reviewed-brief@1", "America/New_York")
    # 06:30 in New York is 11:30 UTC in winter, 10:30 in summer.
    assert schedule["next_fire_times"][0][11:16] in ("11:30", "10:30")
    versions = run_cli("workflows", "list", "--json", "--gateway", gateway, env=ENV)
    ours = [json.loads(line) for line in versions.stdout.splitlines()]
    assert ("reviewed-brief", "1") in [(v["name"], v["version"]) for v in ours]


def test_the_readmes_commands_register_run_approve_and_schedule(mesh: tuple[Path, str]) -> None:
    workdir, gateway = mesh
    apply, run, respond, schedule = readme_commands()
    applied = agentmesh(gateway, apply, workdir)
    assert "workflow reviewed-brief version 1" in applied.stdout, applied.stderr
    started = subprocess.Popen(
        [sys.executable, "-m", "agentmesh_cli", *run, "--gateway", gateway, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=workdir,
    )  # fmt: skip
    try:
        run_id = waiting_run(gateway)
        answered = agentmesh(gateway, [run_id if arg == "RUN_ID" else arg for arg in respond], workdir)
        assert answered.returncode == 0, answered.stderr
        _, err = started.communicate(timeout=120)
    finally:
        started.kill()
    assert started.returncode == 0, err
    with SyncClient.connect(gateway) as client:
        done = client.get_run(run_id)
        assert done.outputs["approved_by"] == "go"
        assert done.outputs["report"].startswith("#")
        research = next(step for step in done.steps if step.step_id == "research")
        (child_id,) = research.child_run_ids
        child = client.get_run(child_id)
        assert (child.workflow_name, child.parent_run_id) == ("research", run_id)
    created = agentmesh(gateway, schedule, workdir)
    assert created.returncode == 0, created.stderr
    assert created.stdout.count("next: ") == 5 and "T07:00:00" in created.stdout  # 08:00 in Oslo, winter


def waiting_run(gateway: str) -> str:
    """The reviewed-brief run once it waits for its approval."""
    deadline = time.monotonic() + 60
    with SyncClient.connect(gateway) as client:
        while time.monotonic() < deadline:
            for run in client.list_runs(state=RunState.WAITING_FOR_INPUT, workflow_name="reviewed-brief"):
                return run.run_id
            time.sleep(0.1)
    raise AssertionError("no reviewed-brief run came to wait for its approval")
