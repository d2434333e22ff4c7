"""The command line as a new user meets it: mistakes get one clear line, output can be copied,
and a mesh that fails to come up says why."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.mesh import Gateway, run_cli, step, workflow

ENV = {**os.environ, "AGENTMESH_LLM": "offline"}


def narrow(columns: int) -> dict[str, str]:
    return {**ENV, "COLUMNS": str(columns)}


def test_a_malformed_input_is_one_line_not_a_traceback() -> None:
    result = run_cli("run", "research", "-i", "topic", "--gateway", "127.0.0.1:1", env=ENV)
    assert result.returncode == 2
    assert "expected KEY=VALUE" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_errors_and_hints_are_not_broken_mid_word_on_a_narrow_terminal() -> None:
    result = run_cli("runs", "--gateway", "127.0.0.1:1", env=narrow(40))
    assert result.returncode == 1
    assert (
        "cannot reach the gateway at 127.0.0.1:1 (is `agentmesh up` running? try --gateway)" in result.stderr
    )


async def test_run_ids_are_printed_whole_at_80_columns(gateway: Gateway) -> None:
    flow = workflow(
        {"name": "a-rather-long-workflow-name-for-a-table", "steps": [step("a", "echo", {"key": "w"})]}
    )
    run = await gateway.client.run(flow)
    result = run_cli("runs", "--gateway", gateway.target, env=narrow(80))
    assert result.returncode == 0, result.stderr
    assert run.run_id in result.stdout  # whole, on one line: it can be copied


async def test_an_invalid_workflow_lists_each_problem_once(gateway: Gateway, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nsteps:\n  - {id: a, agent: nobody}\n  - {id: b, agent: probe, dependencies: [zz]}\n"
    )
    result = run_cli("run", str(bad), "--gateway", gateway.target, env=ENV)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].endswith("invalid workflow:")
    assert sum("unknown agent 'nobody'" in line for line in lines) == 1
    assert sum("unknown step 'zz'" in line for line in lines) == 1


async def test_json_output_uses_the_protos_field_names(gateway: Gateway) -> None:
    flow = workflow({"name": "j", "steps": [step("a", "echo", {"key": "json"})]})
    handle = await gateway.client.start(flow)
    await handle.result()
    result = run_cli("watch", handle.run_id, "--json", "--gateway", gateway.target, env=ENV)
    assert result.returncode == 0, result.stderr
    assert '"run_id"' in result.stdout and '"event_time"' in result.stdout and "runId" not in result.stdout
    got = run_cli("get", handle.run_id, "--gateway", gateway.target, env=ENV)
    assert '"last_sequence"' in got.stdout and "lastSequence" not in got.stdout


def test_log_levels_and_stores_are_checked() -> None:
    loud = run_cli("gateway", "--log-level", "loud", env=ENV)
    assert loud.returncode == 2 and "--log-level must be one of" in loud.stderr
    empty = run_cli("gateway", "--store", "", "--port", "0", env=ENV)
    assert empty.returncode == 2 and "--store must name a file" in empty.stderr


def test_shell_completion_is_offered() -> None:
    # Typer detects the shell from the process tree: run it from bash (`; true` keeps bash from
    # exec'ing the command, which would leave whatever shell started the tests as its parent).
    command = f"{shlex.quote(sys.executable)} -m agentmesh_cli --show-completion; true"
    result = subprocess.run(
        ["bash", "-c", command], env=ENV, capture_output=True, text=True, timeout=60, check=False
    )
    assert "complete" in result.stdout and "agentmesh" in result.stdout, result.stderr


def test_a_mesh_that_fails_to_come_up_shows_the_failing_process_last_lines(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        mesh = tmp_path / "mesh.yaml"
        mesh.write_text(
            f"gateway: {{port: 0, store: {tmp_path / 'gw.db'}}}\nagents:\n  researcher: 127.0.0.1:{port}\n"
        )
        logs = tmp_path / "logs"
        result = run_cli("up", "--config", str(mesh), "--logs", str(logs), env=ENV, timeout=60)
    assert result.returncode == 1
    assert "the mesh did not come up: researcher exited with code 1 before listening" in result.stderr
    assert "cannot serve" in result.stderr  # the child's own last words
    assert "Traceback" not in result.stderr
    assert "cannot serve" in (logs / "researcher.log").read_text()
