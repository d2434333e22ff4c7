"""A step's agent asks for input, through real processes: the gateway, the probe agent, the CLI.

The run waits (WAITING_FOR_INPUT) and says what it waits for in GetRun, the CLI and its events;
`agentmesh respond` answers, a bad answer is refused naming the field, and the run goes on. A
gateway killed with SIGKILL while the run waits comes back with the run still waiting.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from agentmesh.client import RunState, StepInputRequired, StepState
from agentmesh.messages import struct_to_dict
from agentmesh.v1 import run_pb2
from tests.support.mesh import (
    Gateway,
    kinds,
    probe_log,
    run_cli,
    running_gateway,
    start_probe,
    step,
    workflow,
)

ASKING = workflow(
    {
        "name": "asking",
        "steps": [
            step("pick", "ask", {"key": "${inputs.key}", "question": "Which plan?", "asks": 2}),
            step("after", "echo", {"key": "${inputs.key}-after", "value": "${steps.pick.output.choices}"},
                 dependencies=["pick"]),
        ],
    }
)  # fmt: skip


async def waiting_turn(gateway: Gateway, run_id: str, turn: int) -> run_pb2.Run:
    """The run once it waits for the answer to its question of this turn."""
    async with asyncio.timeout(30):
        while True:
            run = await gateway.get_run(run_id)
            pending = run.steps[0].pending_input
            if run.state == run_pb2.RUN_STATE_WAITING_FOR_INPUT and pending and pending[0].turn == turn:
                return run
            await asyncio.sleep(0.05)


async def test_the_cli_shows_and_answers_a_question_and_the_run_goes_on(gateway: Gateway) -> None:
    handle = await gateway.start_run(ASKING, {"key": "cli-asks"})
    await waiting_turn(gateway, handle.run_id, 0)
    target = ["--gateway", gateway.target]

    shown = await asyncio.to_thread(run_cli, "get", handle.run_id, *target)
    assert shown.returncode == 0 and "Which plan? (1 of 2)" in shown.stdout
    # Typed by the question's schema, "lots" is refused by the CLI; as JSON, by the gateway.
    typed = await asyncio.to_thread(run_cli, "respond", handle.run_id, "-i", "choice=lots", *target)
    assert typed.returncode == 2 and "choice takes an integer" in typed.stderr, typed
    bad = await asyncio.to_thread(run_cli, "respond", handle.run_id, "-i", 'choice:="lots"', *target)
    assert bad.returncode != 0 and "answer.choice" in bad.stderr + bad.stdout, bad
    first = await asyncio.to_thread(run_cli, "respond", handle.run_id, "-i", "choice=4", *target)
    assert first.returncode == 0, first.stderr
    await waiting_turn(gateway, handle.run_id, 1)
    second = await asyncio.to_thread(
        run_cli, "respond", handle.run_id, "--step", "pick", "-i", "choice=5", *target
    )
    assert second.returncode == 0, second.stderr

    run = await handle.result()
    assert run.state == RunState.SUCCEEDED
    assert run.step("pick").output == {"key": "cli-asks", "choices": [4, 5]}
    assert run.step("after").output["value"] == [4, 5]
    events = [event async for event in handle.events()]
    asked = [e for e in events if isinstance(e, StepInputRequired)]
    assert [(e.request.step_id, e.request.turn, e.request.text) for e in asked] == [
        ("pick", 0, "Which plan? (1 of 2)"),
        ("pick", 1, "Which plan? (2 of 2)"),
    ]
    assert asked[0].request.answer_schema["required"] == ["choice"]


async def test_respond_without_a_waiting_step_is_one_clear_line(gateway: Gateway) -> None:
    done = await gateway.start_run(
        workflow({"name": "plain", "steps": [step("a", "echo", {"key": "plain"})]})
    )
    await done.result()
    answered = await asyncio.to_thread(
        run_cli, "respond", done.run_id, "-i", "choice=1", "--gateway", gateway.target
    )
    assert answered.returncode == 2
    assert "no step waits for input" in answered.stderr + answered.stdout


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_run_waiting_for_input_survives_kill_9_of_the_gateway(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    log = tmp_path / "probe.jsonl"
    probe = await start_probe(log)
    store = str(tmp_path / "runs.db") if backend == "sqlite" else request.getfixturevalue("postgres_database")
    try:
        async with running_gateway(store, {"probe": [probe.port]}) as first:
            handle = await first.start_run(ASKING, {"key": "killed"})
            await waiting_turn(first, handle.run_id, 0)
            await first.process.kill()
        async with running_gateway(store, {"probe": [probe.port]}) as second:
            still = await second.client.get_run(handle.run_id)
            assert still.state == RunState.WAITING_FOR_INPUT
            assert still.step("pick").state == StepState.WAITING_FOR_INPUT
            await second.client.handle(handle.run_id).respond("pick", {"choice": 1})
            await waiting_turn(second, handle.run_id, 1)
            await second.client.handle(handle.run_id).respond("pick", {"choice": 2})
            events = await second.events(handle.run_id)
            run = await second.get_run(handle.run_id)
    finally:
        await probe.stop()
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
    assert struct_to_dict(run.outputs)["after"]["value"] == [1, 2]
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert kinds(events).count("run_waiting") == 2
    # The agent asked twice and answered once: nothing was invoked again after the kill.
    calls = Counter(r["event"] for r in probe_log(log) if r["key"] == "killed")
    assert calls == {"asked": 2, "answered": 1}
