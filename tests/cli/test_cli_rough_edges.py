"""The command line's rough edges, smoothed and kept so: connection options anywhere, JSON lists,
piped tables that cut nothing, help without type placeholders, and completion from the gateway."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from agentmesh_cli.argv import arrange
from tests.support.mesh import Gateway, run_cli, step, workflow

FLOW = workflow({"name": "edges", "steps": [step("e", "echo", {"key": "edges", "value": 1})]})


def complete(words: str, env: dict[str, str] | None = None) -> list[str]:
    """What bash completion offers for the last of `words` (as typer's bash script asks)."""
    parts = words.split(" ")
    completion_env = {
        **os.environ,
        **(env or {}),
        "_AGENTMESH_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(parts) - 1),
    }
    done = subprocess.run(
        [sys.executable, "-m", "agentmesh_cli"],
        capture_output=True,
        text=True,
        env=completion_env,
        timeout=30,
    )
    return done.stdout.split()


def test_connection_options_move_where_they_are_declared() -> None:
    assert arrange(["--gateway", "g:1", "runs", "--token", "t", "--json"]) == [
        "--token", "t", "runs", "--json", "--gateway", "g:1",
    ]  # fmt: skip
    assert arrange(["--gateway=g:1", "--tls-ca", "ca.pem", "get", "abc"]) == [
        "--tls-ca", "ca.pem", "get", "abc", "--gateway=g:1",
    ]  # fmt: skip
    # A serving command's options of the same name are its own.
    assert arrange(["gateway", "--tls-ca", "agents-ca.pem"]) == ["gateway", "--tls-ca", "agents-ca.pem"]
    assert arrange(["--help"]) == ["--help"]


async def test_options_anywhere_and_lists_as_json_lines(gateway: Gateway) -> None:
    run = await gateway.start_run(FLOW)
    listed = await asyncio.to_thread(run_cli, "--gateway", gateway.target, "runs", "--json", "--limit", "500")
    assert listed.returncode == 0, listed.stderr
    runs = [json.loads(line) for line in listed.stdout.splitlines()]
    assert run.run_id in [r["run_id"] for r in runs]
    agents = await asyncio.to_thread(
        run_cli, "agents", "--json", "--token", "ignored", "--gateway", gateway.target
    )
    assert agents.returncode == 0, agents.stderr
    assert [json.loads(line)["name"] for line in agents.stdout.splitlines()] == ["probe"]
    # --tls-ca after the command is the top-level one: the client reads the (missing) file.
    missing = await asyncio.to_thread(
        run_cli, "runs", "--tls-ca", "/nonexistent/ca.pem", "--gateway", gateway.target
    )
    assert missing.returncode == 2 and "/nonexistent/ca.pem" in missing.stderr, missing


async def test_a_piped_table_cuts_no_id_and_draws_no_borders(gateway: Gateway) -> None:
    run = await gateway.start_run(FLOW)
    listed = await asyncio.to_thread(
        run_cli,
        "runs",
        "--workflow",
        "edges",
        "--gateway",
        gateway.target,
        env={**os.environ, "COLUMNS": "60"},
    )
    assert listed.returncode == 0, listed.stderr
    assert run.run_id in listed.stdout
    assert not set("│┃║┏┡") & set(listed.stdout)
    row = next(line for line in listed.stdout.splitlines() if run.run_id in line)
    assert row.split()[:2] == [run.run_id, "edges"]


def test_help_shows_no_type_placeholders() -> None:
    shown = run_cli("run", "--help", env={**os.environ, "COLUMNS": "100"})
    assert "KEY=VALUE" in shown.stdout and "list[str]" not in shown.stdout


async def test_completion_offers_workflows_runs_and_states(gateway: Gateway) -> None:
    run = await gateway.start_run(FLOW)
    env = {"AGENTMESH_GATEWAY": gateway.target}
    await gateway.client.apply_workflow(FLOW)
    workflows = await asyncio.to_thread(complete, "agentmesh run ed", env)
    assert workflows == ["edges"]
    ids = await asyncio.to_thread(complete, f"agentmesh get {run.run_id[:20]}", env)
    assert ids == [run.run_id]
    states = await asyncio.to_thread(complete, "agentmesh runs --state s")
    assert sorted(states) == ["sleeping", "succeeded"]
    # With no gateway there, nothing is offered and nothing is printed into the shell.
    assert await asyncio.to_thread(complete, "agentmesh get ab", {"AGENTMESH_GATEWAY": "127.0.0.1:1"}) == []


def test_a_taken_port_is_one_line_not_grpc_core_logs(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for args in (
            ["gateway", "--port", port, "--store", str(tmp_path / "g.db"), "--log-format", "text"],
            ["agent", "writer", "--port", port, "--log-format", "text"],
        ):
            refused = run_cli(*args, timeout=60)
            assert refused.returncode != 0
            lines = (refused.stdout + refused.stderr).strip().splitlines()
            assert len(lines) == 1 and f"port {port} on 127.0.0.1 is in use" in lines[0], lines
