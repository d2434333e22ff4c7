"""`agentmesh workflows` and `agentmesh schedule` as a person runs them: subprocesses against a
gateway process (and its probe agent), on a real SQLite store; the same over HTTP/JSON."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from agentmesh.v1 import orchestrator_service_pb2 as pb
from tests.support.mesh import Gateway, run_cli

ECHO = """\
name: ticker
inputs:
  - {{name: key, required: true}}
steps:
  - id: {step}
    agent: probe
    skill: echo
    input: {{key: "${{inputs.key}}", value: 1}}
"""


def agentmesh(gateway: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--gateway", gateway.target)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


async def test_workflows_apply_keeps_versions_and_refuses_a_changed_one(
    gateway: Gateway, tmp_path: Path
) -> None:
    first = write(tmp_path / "v1.yaml", ECHO.format(step="tick"))
    applied = await asyncio.to_thread(agentmesh, gateway, "workflows", "apply", str(first))
    assert applied.returncode == 0, applied.stderr
    assert "workflow ticker version 1: registered" in applied.stdout
    again = await asyncio.to_thread(agentmesh, gateway, "workflows", "apply", str(first))
    assert "version 1: unchanged" in again.stdout
    second = write(tmp_path / "v2.yaml", ECHO.format(step="tock"))
    applied = await asyncio.to_thread(agentmesh, gateway, "workflows", "apply", str(second))
    assert "workflow ticker version 2: registered" in applied.stdout
    taken = write(tmp_path / "taken.yaml", "version: '1'\n" + ECHO.format(step="other"))
    refused = await asyncio.to_thread(agentmesh, gateway, "workflows", "apply", str(taken))
    assert refused.returncode == 1
    assert "version '1' of workflow 'ticker' is registered with another definition" in refused.stderr
    assert "Traceback" not in refused.stderr

    listed = await asyncio.to_thread(agentmesh, gateway, "workflows", "list", "--json")
    versions = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(v["name"], v["version"]) for v in versions if v["name"] == "ticker"] == [
        ("ticker", "2"),
        ("ticker", "1"),
    ]
    shown = await asyncio.to_thread(agentmesh, gateway, "workflows", "get", "ticker@1")
    assert "id: tick\n" in shown.stdout
    # What `get` prints, `apply` takes back as the same version.
    back = write(tmp_path / "back.yaml", shown.stdout)
    applied = await asyncio.to_thread(agentmesh, gateway, "workflows", "apply", str(back))
    assert "workflow ticker version 1: unchanged" in applied.stdout


async def test_schedule_commands_create_list_pause_resume_trigger_and_delete(
    gateway: Gateway, tmp_path: Path
) -> None:
    write(tmp_path / "w.yaml", ECHO.format(step="tick"))
    await asyncio.to_thread(agentmesh, gateway, "workflows", "apply", str(tmp_path / "w.yaml"))
    created = await asyncio.to_thread(
        agentmesh, gateway, "schedule", "create", "hourly-tick", "-w", "ticker",
        "--cron", "0 * * * *", "--tz", "Europe/Oslo", "-i", "key=k1", "--overlap", "allow",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert created.stdout.count("next: ") == 5
    listed = await asyncio.to_thread(agentmesh, gateway, "schedule", "list", "--json")
    (schedule,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (schedule["name"], schedule["time_zone"], schedule["overlap"]) == (
        "hourly-tick",
        "Europe/Oslo",
        "OVERLAP_POLICY_ALLOW",
    )
    paused = await asyncio.to_thread(agentmesh, gateway, "schedule", "pause", "hourly-tick", "--reason", "x")
    assert paused.returncode == 0
    got = json.loads((await asyncio.to_thread(agentmesh, gateway, "schedule", "get", "hourly-tick")).stdout)
    assert (got["paused"], got.get("next_fire_times")) == (True, None)
    resumed = await asyncio.to_thread(agentmesh, gateway, "schedule", "resume", "hourly-tick")
    assert resumed.stdout.count("next: ") == 5
    triggered = await asyncio.to_thread(agentmesh, gateway, "schedule", "trigger", "hourly-tick")
    assert triggered.returncode == 0, triggered.stderr
    run_id = triggered.stdout.split("started run ")[1].split()[0]
    run = await gateway.get_run(run_id)
    assert (run.schedule, run.workflow.name) == ("hourly-tick", "ticker")
    deleted = await asyncio.to_thread(agentmesh, gateway, "schedule", "delete", "hourly-tick")
    assert deleted.returncode == 0
    gone = await asyncio.to_thread(agentmesh, gateway, "schedule", "get", "hourly-tick")
    assert (gone.returncode, gone.stderr.strip()) == (1, "error: no schedule 'hourly-tick'")


async def test_bad_schedules_are_one_line_each_and_nothing_is_stored(
    gateway: Gateway, tmp_path: Path
) -> None:
    write(tmp_path / "w.yaml", ECHO.format(step="tick"))
    await asyncio.to_thread(agentmesh, gateway, "workflows", "apply", str(tmp_path / "w.yaml"))
    for args, expected in (
        (["--cron", "99 * * * *", "-w", "ticker", "-i", "key=k"], "schedule.cron"),
        (
            ["--cron", "0 * * * *", "-w", "ticker", "-i", "key=k", "--tz", "Nowhere/Land"],
            "schedule.time_zone",
        ),
        (["--cron", "0 * * * *", "-w", "ticker"], "schedule.inputs.key"),
        (["--cron", "0 * * * *", "-w", "no-such-workflow"], "schedule.workflow_name"),
    ):
        refused = await asyncio.to_thread(agentmesh, gateway, "schedule", "create", "bad-one", *args)
        assert refused.returncode == 1, refused.stdout
        assert expected in refused.stderr
        assert "Traceback" not in refused.stderr
    wrong = await asyncio.to_thread(
        agentmesh, gateway, "schedule", "create", "bad-one", "--cron", "0 * * * *", "--overlap", "sometimes"
    )
    assert (wrong.returncode, "overlap must be one of skip, allow, cancel_previous" in wrong.stderr) == (
        2,
        True,
    )
    listed = await gateway.wire.ListSchedules(pb.ListSchedulesRequest())
    assert "bad-one" not in [s.name for s in listed.schedules]


NAP = """\
name: nap
steps:
  - {id: rest, sleep: 3s}
  - {id: child, workflow: ticker, dependencies: [rest], input: {key: napped}}
"""


async def test_run_and_runs_show_sleeping_steps_and_child_runs(gateway: Gateway, tmp_path: Path) -> None:
    write(tmp_path / "w.yaml", ECHO.format(step="tick"))
    await asyncio.to_thread(agentmesh, gateway, "workflows", "apply", str(tmp_path / "w.yaml"))
    nap = write(tmp_path / "nap.yaml", NAP)
    running = asyncio.create_task(asyncio.to_thread(agentmesh, gateway, "run", str(nap), "--json"))
    # Parked past the engine's hold: `runs --state sleeping` lists it.
    async with asyncio.timeout(30):
        while True:
            listed = await asyncio.to_thread(agentmesh, gateway, "runs", "--state", "sleeping")
            if " nap " in listed.stdout:
                break
            await asyncio.sleep(0.2)
    lines = (await running).stdout.splitlines()
    kinds = [next(iter(set(json.loads(line)) - {"run_id", "sequence", "event_time"})) for line in lines]
    assert {"step_sleeping", "step_child_started", "run_completed"} <= set(kinds)
    run_id = json.loads(lines[0])["run_id"]
    shown = json.loads((await asyncio.to_thread(agentmesh, gateway, "get", run_id)).stdout)
    (child_id,) = next(s for s in shown["steps"] if s["step_id"] == "child")["child_run_ids"]
    child = json.loads((await asyncio.to_thread(agentmesh, gateway, "get", child_id)).stdout)
    assert child["parent"] == {"run_id": run_id, "step_id": "child"}
    # The live table (piped: drawn once, at the end) names what each step does.
    table = await asyncio.to_thread(agentmesh, gateway, "run", str(nap))
    assert table.returncode == 0, table.stderr
    assert "(sleep)" in table.stdout and "(workflow ticker)" in table.stdout and "child run" in table.stdout
