"""Engine semantics, through a gateway process calling a probe agent process."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agentmesh.client import Caller, RunState, StepState
from agentmesh.messages import dict_to_struct, struct_to_dict, value_to_python
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import run_pb2
from tests.support.mesh import Gateway, finished, kinds, probe_log, records, step, workflow


async def test_a_flaky_step_succeeds_on_its_third_attempt_and_every_attempt_is_an_event(
    gateway: Gateway,
) -> None:
    retry = {"max_attempts": 4, "initial_delay": "0.05s", "backoff_multiplier": 3, "jitter": 0}
    flow = workflow({"name": "flaky", "steps": [step("shaky", "flaky", {"key": "flaky-1"}, retry=retry)]})
    run, events = await finished(gateway, await gateway.start_run(flow))
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
    assert [e.step_started.attempt for e in events if e.HasField("step_started")] == [1, 2, 3]
    retries = [e.step_retrying for e in events if e.HasField("step_retrying")]
    assert [r.attempt for r in retries] == [1, 2]
    assert [r.error.code for r in retries] == ["UNAVAILABLE", "UNAVAILABLE"]
    assert [r.delay.ToTimedelta().total_seconds() for r in retries] == [0.05, 0.15]  # times 3, no jitter
    assert struct_to_dict(run.outputs) == {"shaky": {"calls": 3}}
    assert run.steps[0].attempts == 3


async def test_non_retryable_codes_fail_at_once(gateway: Gateway) -> None:
    invalid = step("invalid", "flaky", {"key": "bad-1", "code": "INVALID_ARGUMENT"})
    listed = step(
        "listed",
        "flaky",
        {"key": "bad-2", "code": "RESOURCE_EXHAUSTED"},
        retry={"non_retryable_codes": ["RESOURCE_EXHAUSTED"]},
    )
    for flaky_step in (invalid, listed):
        run, events = await finished(
            gateway, await gateway.start_run(workflow({"name": "f", "steps": [flaky_step]}))
        )
        assert run.state == run_pb2.RUN_STATE_FAILED
        assert "step_retrying" not in kinds(events)
        assert kinds(events)[-2:] == ["step_failed", "run_failed"]
        assert run.error.step_id == flaky_step["id"]


async def test_a_step_timeout_is_the_agent_call_deadline(gateway: Gateway, workdir: Path) -> None:
    slow = step(
        "slow",
        "echo",
        {"key": "timeout-1", "ms": 5000},
        timeout="0.3s",
        retry={"max_attempts": 2, "initial_delay": "0.01s"},
    )
    run, events = await finished(gateway, await gateway.start_run(workflow({"name": "t", "steps": [slow]})))
    assert run.state == run_pb2.RUN_STATE_FAILED
    assert run.error.code == "DEADLINE_EXCEEDED"
    assert kinds(events).count("step_started") == 2  # DEADLINE_EXCEEDED is retried by default
    await asyncio.sleep(0.3)
    seen = [r["event"] for r in records(workdir, "timeout-1")]
    assert seen == ["started", "cancelled", "started", "cancelled"]


async def test_cancel_in_the_middle_of_a_step_reaches_the_agent(gateway: Gateway, workdir: Path) -> None:
    flow = workflow({"name": "c", "steps": [step("long", "echo", {"key": "cancel-1", "ms": 30000})]})
    run = await gateway.start_run(flow)
    await gateway.wait_for(run.run_id, "step_started")
    cancelled = await run.cancel("changed my mind")
    assert cancelled.state == RunState.CANCELLED
    assert cancelled.steps[0].state == StepState.CANCELLED
    events = await gateway.events(run.run_id)
    assert events[-1].run_cancelled.reason == "changed my mind"
    assert [r["event"] for r in records(workdir, "cancel-1")] == ["started", "cancelled"]
    again = await run.cancel()
    assert again == cancelled  # idempotent


async def test_for_each_runs_every_item_at_once_and_joins_in_order(gateway: Gateway, workdir: Path) -> None:
    flow = workflow(
        {
            "name": "fan",
            "inputs": [{"name": "items", "required": True}],
            "steps": [
                step(
                    "each",
                    "echo",
                    {"key": "fan-${index}", "value": "${item}", "ms": 300},
                    for_each="${inputs.items}",
                )
            ],
        }
    )
    run, events = await finished(
        gateway, await gateway.start_run(flow, {"items": ["a", "b", "c", "d", "e", "f"]})
    )
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
    assert [o["value"] for o in value_to_python(run.steps[0].output)] == ["a", "b", "c", "d", "e", "f"]
    started = sorted(e.step_started.item for e in events if e.HasField("step_started"))
    assert started == [0, 1, 2, 3, 4, 5]
    # Overlap, counted from the agent's own records: all six were running at once.
    log = [r for r in probe_log(workdir / "probe.jsonl") if r["key"].startswith("fan-")]
    running, most = 0, 0
    for entry in sorted(log, key=lambda r: r["time"]):
        running += 1 if entry["event"] == "started" else -1
        most = max(most, running)
    assert most == 6


async def test_a_false_condition_skips_the_step_and_dependents_still_run(gateway: Gateway) -> None:
    flow = workflow(
        {
            "name": "cond",
            "steps": [
                step("first", "echo", {"key": "cond-1", "value": {"approved": True}}),
                step(
                    "fix",
                    "echo",
                    {"key": "cond-2"},
                    dependencies=["first"],
                    when="${not steps.first.output.value.approved}",
                ),
                step(
                    "last",
                    "echo",
                    {"key": "cond-3", "value": "${steps.fix.output.key or 'skipped'}"},
                    dependencies=["fix"],
                ),
            ],
            "outputs": {"final": "${steps.last.output.value}", "fixed": "${steps.fix.state}"},
        }
    )
    run, events = await finished(gateway, await gateway.start_run(flow))
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
    assert [s.state for s in run.steps] == [
        run_pb2.STEP_STATE_SUCCEEDED,
        run_pb2.STEP_STATE_SKIPPED,
        run_pb2.STEP_STATE_SUCCEEDED,
    ]
    assert struct_to_dict(run.outputs) == {"final": "skipped", "fixed": "skipped"}
    assert "when is false" in next(e.step_skipped.reason for e in events if e.HasField("step_skipped"))


async def test_a_failed_step_fails_the_run_and_cancels_the_others(gateway: Gateway, workdir: Path) -> None:
    flow = workflow(
        {
            "name": "failfast",
            "steps": [
                step("boom", "fail", {"code": "FAILED_PRECONDITION", "after": "failfast-1"}),
                step("slow", "echo", {"key": "failfast-1", "ms": 30000}),
                step("after", "echo", {"key": "failfast-2"}, dependencies=["boom"]),
            ],
        }
    )
    run, _ = await finished(gateway, await gateway.start_run(flow))
    assert run.state == run_pb2.RUN_STATE_FAILED
    assert (run.error.step_id, run.error.code, run.error.reason) == (
        "boom",
        "FAILED_PRECONDITION",
        "TOLD_TO_FAIL",
    )
    states = {s.step_id: s.state for s in run.steps}
    assert states == {
        "boom": run_pb2.STEP_STATE_FAILED,
        "slow": run_pb2.STEP_STATE_CANCELLED,
        "after": run_pb2.STEP_STATE_CANCELLED,
    }
    # The agent records the cancellation when it reaches it, after the run has ended.
    async with asyncio.timeout(10):
        while len(records(workdir, "failfast-1")) < 2:
            await asyncio.sleep(0.02)
    assert [r["event"] for r in records(workdir, "failfast-1")] == ["started", "cancelled"]
    assert records(workdir, "failfast-2") == []


async def test_continue_on_failure_lets_the_run_go_on(gateway: Gateway) -> None:
    flow = workflow(
        {
            "name": "tolerant",
            "steps": [
                step("optional", "fail", {"code": "NOT_FOUND"}, continue_on_failure=True),
                step(
                    "next",
                    "echo",
                    {"key": "tolerant-1", "value": "${steps.optional.output}"},
                    dependencies=["optional"],
                ),
            ],
        }
    )
    run, events = await finished(gateway, await gateway.start_run(flow))
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
    assert next(e.step_failed.continued for e in events if e.HasField("step_failed"))
    assert struct_to_dict(run.outputs) == {"next": {"key": "tolerant-1", "value": None}}


async def test_a_run_timeout_fails_the_run(gateway: Gateway) -> None:
    flow = workflow(
        {"name": "late", "timeout": "0.5s", "steps": [step("long", "echo", {"key": "late-1", "ms": 30000})]}
    )
    run, _ = await finished(gateway, await gateway.start_run(flow))
    assert run.state == run_pb2.RUN_STATE_FAILED
    assert (run.error.code, run.error.reason) == ("DEADLINE_EXCEEDED", "RUN_TIMEOUT")


async def test_a_slow_branch_never_holds_up_an_unrelated_one(gateway: Gateway) -> None:
    flow = workflow(
        {
            "name": "branches",
            "steps": [
                step("slow", "echo", {"key": "branch-slow", "ms": 1500}),
                step("fast1", "echo", {"key": "branch-fast1"}),
                step("fast2", "echo", {"key": "branch-fast2"}, dependencies=["fast1"]),
            ],
        }
    )
    run, events = await finished(gateway, await gateway.start_run(flow))
    completed = [e.step_completed.step_id for e in events if e.HasField("step_completed")]
    assert completed == ["fast1", "fast2", "slow"]
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED


async def test_calls_carry_the_idempotency_key_trace_context_and_shared_data(
    gateway: Gateway, workdir: Path
) -> None:
    flow = workflow(
        {
            "name": "ctx",
            "steps": [
                step("first", "echo", {"key": "ctx-1", "value": "${shared.user_id}"}),
                step(
                    "second", "echo", {"key": "ctx-2", "value": "${run.session_id}"}, dependencies=["first"]
                ),
            ],
        }
    )
    context = run_pb2.RunContext(session_id="session-12345", shared=dict_to_struct({"user_id": "user-abcde"}))
    run, _ = await finished(gateway, await gateway.start_run(flow, context=context))
    assert struct_to_dict(run.outputs) == {"second": {"key": "ctx-2", "value": "session-12345"}}
    assert value_to_python(run.steps[0].output) == {"key": "ctx-1", "value": "user-abcde"}
    first, second = records(workdir, "ctx-1")[0], records(workdir, "ctx-2")[0]
    assert first["idempotency_key"] == f"{run.run_id}/first/-/1"
    # W3C trace context: one trace per run, whose id is the run id; a span per step.
    version, trace_id, span_id, flags = first["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", run.run_id, "01")
    assert second["traceparent"].split("-")[1] == run.run_id
    assert second["traceparent"].split("-")[2] != span_id


async def test_a_fan_out_item_that_fails_for_good_fails_the_step_naming_the_item(gateway: Gateway) -> None:
    flow = workflow(
        {
            "name": "fan-fail",
            "steps": [
                step(
                    "each",
                    "flaky",
                    {
                        "key": "fan-fail-${index}",
                        "succeed_on": "${1 if index == 0 else 99}",
                        "code": "FAILED_PRECONDITION",
                    },
                    for_each="${['ok', 'doomed']}",
                )
            ],
        }
    )
    run, events = await finished(gateway, await gateway.start_run(flow))
    assert run.state == run_pb2.RUN_STATE_FAILED
    failed = next(e.step_failed for e in events if e.HasField("step_failed"))
    assert (failed.item, failed.error.code, failed.error.reason) == (1, "FAILED_PRECONDITION", "FLAKY")
    assert run.error.step_id == "each"


async def test_watching_a_finished_run_after_its_last_event_ends_at_once(gateway: Gateway) -> None:
    run, events = await finished(
        gateway,
        await gateway.start_run(workflow({"name": "w", "steps": [step("a", "echo", {"key": "done-watch"})]})),
    )
    last = events[-1].sequence
    async with asyncio.timeout(10):  # it used to wait forever for an event that never comes
        request = pb.WatchRunRequest(run_id=run.run_id, after_sequence=last)
        assert [r async for r in gateway.wire.WatchRun(request)] == []  # the server closes the stream
        assert await gateway.events(run.run_id, after=last) == []  # and the client sees it is over
        assert [e.sequence for e in await gateway.events(run.run_id, after=last - 1)] == [last]


async def test_without_tokens_every_caller_is_an_anonymous_admin(gateway: Gateway) -> None:
    assert await gateway.client.caller() == Caller("", "admin", authenticated=False, tenant_isolation=False)
