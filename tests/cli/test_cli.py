"""The CLI as a person uses it: subprocesses against a mesh started by `agentmesh up`."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentmesh_services import AGENTS
from bench.startup import free_ports
from tests.support.mesh import run_cli

CLI = [sys.executable, "-m", "agentmesh_cli"]
# The CLI as started from a terminal, where Ctrl-C is not ignored. A process started in the
# background by a non-interactive shell (as CI may be) inherits SIGINT ignored, and Python
# then honours that; this resets it before exec'ing the CLI.
AS_IN_A_TERMINAL = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, '-m', 'agentmesh_cli', *sys.argv[1:]])",
]
# Agents started by `up` inherit this: a little simulated thinking time leaves runs to cancel.
ENV = {**os.environ, "COLUMNS": "120", "AGENTMESH_LLM": "offline", "AGENTMESH_OFFLINE_LATENCY_MS": "300"}


def agentmesh(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=ENV, timeout=timeout)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    # Fixed ports, as in the default mesh: the gateway starts alongside its agents.
    workdir = tmp_path_factory.mktemp("cli")
    agents = "\n".join(
        f"  {name}: 127.0.0.1:{port}" for name, port in zip(AGENTS, free_ports(7), strict=True)
    )
    up, gateway = start_up(workdir, f"gateway: {{port: 0, store: {workdir / 'gw.db'}}}\nagents:\n{agents}\n")
    yield gateway, up
    if up.poll() is None:
        up.send_signal(signal.SIGINT)
        up.wait(30)


def start_up(workdir: Path, mesh_file: str) -> tuple[subprocess.Popen[str], str]:
    """`agentmesh up` with this mesh file, once it says the mesh is up; and the gateway's address."""
    up, gateway, _ = start_up_saying(workdir, mesh_file)
    return up, gateway


def start_up_saying(workdir: Path, mesh_file: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    """As `start_up`, with the lines `up` printed until the mesh was up."""
    config = workdir / "mesh.yaml"
    config.write_text(mesh_file + "llm: offline\n")
    up = subprocess.Popen(
        [*CLI, "up", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )
    assert up.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = up.stdout.readline()
        lines.append(line)
        if match := re.search(r"gateway at (127\.0\.0\.1:\d+)", line):
            return up, match.group(1), lines
        if not line and up.poll() is not None:
            raise AssertionError("agentmesh up exited:\n" + "".join(lines))
    up.kill()
    raise AssertionError("agentmesh up did not come up:\n" + "".join(lines))


def test_up_tells_the_gateway_the_ports_the_os_picked_for_each_replica(tmp_path: Path) -> None:
    mesh_file = (
        f"gateway: {{port: 0, store: {tmp_path / 'gw.db'}}}\n"
        "agents:\n  researcher: [127.0.0.1:0, 127.0.0.1:0]\n  writer: 127.0.0.1:0\n"
    )
    up, gateway = start_up(tmp_path, mesh_file)
    try:
        result = agentmesh("agents", "--gateway", gateway)
        assert result.returncode == 0, result.stderr
        ports = re.findall(r"127\.0\.0\.1:(\d+)", result.stdout)
        assert len(set(ports)) == 3 and "0" not in ports
        assert result.stdout.count("SERVING") == 3
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(30) == 0


def test_up_prints_where_each_process_serves_its_metrics(tmp_path: Path) -> None:
    mesh_file = f"gateway: {{port: 0, store: {tmp_path / 'gw.db'}}}\nagents:\n  writer: 127.0.0.1:0\n"
    up, _, said = start_up_saying(tmp_path, mesh_file)
    try:
        started = [line for line in said if "✓" in line]
        assert {line.split()[1] for line in started} == {"writer", "gateway"}, said
        for line in started:
            match = re.search(r"metrics (127\.0\.0\.1:\d+/metrics)", line)
            assert match, line
            with urllib.request.urlopen(f"http://{match.group(1)}", timeout=10) as scraped:
                assert scraped.status == 200 and b"agentmesh_" in scraped.read()
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(30) == 0


def test_agents_lists_seven_serving_agents(mesh: tuple[str, subprocess.Popen[str]]) -> None:
    result = agentmesh("agents", "--gateway", mesh[0])
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if "SERVING" in line]
    assert len(rows) == 7
    assert all(name in result.stdout for name in AGENTS)


def test_research_prints_a_report_and_exits_0(mesh: tuple[str, subprocess.Popen[str]]) -> None:
    result = agentmesh(
        "research", "Urban gardening", "--depth", "quick", "--max-subtopics", "2", "--gateway", mesh[0]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Urban gardening" in result.stdout.split("report", 1)[1]
    assert "succeeded" in result.stdout


def test_json_lines_parse_and_are_numbered_without_a_gap(mesh: tuple[str, subprocess.Popen[str]]) -> None:
    result = agentmesh("run", "trend-analysis", "--json", "-i", "topic=robots", "--gateway", mesh[0])
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [int(e["sequence"]) for e in events] == list(range(1, len(events) + 1))
    assert "run_completed" in events[-1]  # field names as in the protos


def test_a_failing_run_exits_non_zero_and_get_and_runs_show_it(
    mesh: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    result = agentmesh("run", "research", "-i", "topic=x", "--gateway", mesh[0])  # too short a topic
    assert result.returncode == 1
    run_id = re.search(r"run ([0-9a-f]{32}) failed in step plan", result.stdout)
    assert run_id, result.stdout
    got = agentmesh("get", run_id.group(1), "--gateway", mesh[0])
    assert '"RUN_STATE_FAILED"' in got.stdout
    listed = agentmesh("runs", "--state", "failed", "--gateway", mesh[0])
    assert run_id.group(1)[:8] in listed.stdout
    found = agentmesh("runs", "--workflow", "research", "-q", run_id.group(1)[:12], "--gateway", mesh[0])
    assert run_id.group(1)[:8] in found.stdout
    other = agentmesh(
        "runs", "--workflow", "trend-analysis", "-q", run_id.group(1)[:12], "--gateway", mesh[0]
    )
    assert other.returncode == 0 and run_id.group(1)[:8] not in other.stdout


def test_a_workflow_file_runs_and_an_invalid_one_is_one_clear_line(
    mesh: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    good = tmp_path / "scan.yaml"
    good.write_text(
        "name: scan\nsteps:\n  - {id: scan, agent: trend-scanner, input: {platform: x, topic: ai}}\n"
    )
    assert agentmesh("run", str(good), "--gateway", mesh[0]).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps:\n  - {id: a, agent: nobody}\n")
    result = agentmesh("run", str(bad), "--gateway", mesh[0])
    assert result.returncode == 1
    assert "unknown agent 'nobody'" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_errors_a_person_can_act_on(mesh: tuple[str, subprocess.Popen[str]]) -> None:
    unreachable = agentmesh("runs", "--gateway", "127.0.0.1:1")
    assert unreachable.returncode == 1
    assert "cannot reach the gateway at 127.0.0.1:1" in unreachable.stderr
    unknown = agentmesh("run", "no-such-workflow", "--gateway", mesh[0])
    assert unknown.returncode == 1 and "no workflow named 'no-such-workflow'" in unknown.stderr
    for result in (unreachable, unknown):
        assert "Traceback" not in result.stderr + result.stdout


def test_cancel_ends_a_running_run(mesh: tuple[str, subprocess.Popen[str]], tmp_path: Path) -> None:
    started = subprocess.Popen(
        [*CLI, "run", "research", "--json", "-i", "topic=Deep sea mining", "--gateway", mesh[0]],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert started.stdout is not None
    run_id = json.loads(started.stdout.readline())["run_id"]
    cancelled = agentmesh("cancel", run_id, "--gateway", mesh[0])
    assert cancelled.returncode == 0
    assert f"run {run_id}: cancelled" in cancelled.stdout
    assert started.wait(30) == 1  # a cancelled run is not a success


def test_ctrl_c_detaches_from_a_run_and_watch_reattaches(mesh: tuple[str, subprocess.Popen[str]]) -> None:
    run = subprocess.Popen(
        [*AS_IN_A_TERMINAL, "run", "research", "-i", "topic=Coral reefs", "--json", "--gateway", mesh[0]],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )
    assert run.stdout is not None
    # Interrupted once it follows the run and the first step is done: several steps remain.
    seen = [run.stdout.readline()]
    while "step_completed" not in seen[-1]:
        seen.append(run.stdout.readline())
        assert seen[-1], "".join(seen)
    run.send_signal(signal.SIGINT)
    rest, _ = run.communicate(timeout=30)
    out = "".join(seen) + rest
    assert run.returncode == 130, out
    hint = re.search(r"Re-attach with: agentmesh (watch ([0-9a-f]{32}) --after-sequence (\d+) .*)", out)
    assert hint, out
    # The hint, run as printed, keeps the options the run was followed with (gateway, JSON).
    assert f"--gateway {mesh[0]} --json" in hint.group(1)
    watched = agentmesh(*shlex.split(hint.group(1)))
    assert watched.returncode == 0, watched.stderr
    sequences = [int(json.loads(line)["sequence"]) for line in watched.stdout.splitlines()]
    assert sequences[0] == int(hint.group(3)) + 1
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))


def metrics(gateway: str) -> dict[str, Any]:
    result = agentmesh("metrics", "--json", "--gateway", gateway)
    assert result.returncode == 0, result.stderr
    figures: dict[str, Any] = json.loads(result.stdout)
    return figures


def test_metrics_count_the_runs_just_made(mesh: tuple[str, subprocess.Popen[str]]) -> None:
    before = metrics(mesh[0])
    assert (
        agentmesh(
            "research", "Tidal energy", "--depth", "quick", "--max-subtopics", "2", "--gateway", mesh[0]
        ).returncode
        == 0
    )
    after = metrics(mesh[0])
    assert after["workflows_executed"] == before["workflows_executed"] + 1  # snake_case, as the protos
    assert after["workflows_succeeded"] == before["workflows_succeeded"] + 1
    calls = {a["agent"]: int(a["executions"]) for a in after["agents"]}
    earlier = {a["agent"]: int(a["executions"]) for a in before["agents"]}
    # plan + two research items; draft + revise; one review; one analysis.
    assert calls["researcher"] - earlier.get("researcher", 0) == 3
    assert calls["writer"] - earlier.get("writer", 0) == 2
    assert calls["critic"] - earlier.get("critic", 0) == 1
    researcher = next(a for a in after["agents"] if a["agent"] == "researcher")
    assert 0 < researcher["p50_ms"] <= researcher["p95_ms"] <= researcher["p99_ms"]
    assert researcher["tokens_used"] > 0  # the offline model reports what it spends
    table = agentmesh("metrics", "--gateway", mesh[0]).stdout
    assert "workflows executed" in table and "p99 ms" in table and "tokens" in table


def test_chat_remembers_within_a_session_and_not_across(mesh: tuple[str, subprocess.Popen[str]]) -> None:
    first = agentmesh("chat", "What is agentmesh?", "--gateway", mesh[0])
    assert first.returncode == 0, first.stderr
    session = re.search(r"session ([0-9a-f]{32}) · (\d+) tokens", first.stdout)
    assert session and int(session.group(2)) > 0
    assert "Earlier in this conversation" not in first.stdout
    again = agentmesh("chat", "And how do I run it?", "--session", session.group(1), "--gateway", mesh[0])
    assert "Earlier in this conversation you sent 1 message(s)." in again.stdout
    assert f"session {session.group(1)}" in again.stdout
    other = agentmesh("chat", "Hello", "--gateway", mesh[0])
    assert "Earlier in this conversation" not in other.stdout
    assert session.group(1) not in other.stdout


def test_ctrl_c_on_up_leaves_no_process_behind(mesh: tuple[str, subprocess.Popen[str]]) -> None:
    up = mesh[1]
    children = subprocess.run(
        ["pgrep", "-P", str(up.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert len(children) == 8  # seven agents and the gateway
    up.send_signal(signal.SIGINT)
    assert up.wait(30) == 0
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)
