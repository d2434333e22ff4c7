"""Regressions of issue 9, each with the issue's numbers, against a real gateway process.

A join step invoked twice; a 32-level input that bricked restart; single requests that
blocked the event loop for seconds; invalid workflows answered INTERNAL; errors that
echoed input without bound; values built by expressions without bound.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import pytest

from agentmesh.errors import echo
from agentmesh.messages import dict_to_struct, struct_to_dict
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import orchestrator_service_pb2_grpc as pb_grpc
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_gateway.limits import MAX_JSON_DEPTH, MAX_RUN_INPUT_BYTES, MAX_STEP_OUTPUT_BYTES, MAX_STEPS
from agentmesh_gateway.run_request import new_run_id
from agentmesh_gateway.store.base import Batch, NewRun
from agentmesh_gateway.store.sqlite import SqliteRunStore
from tests.support.hostile import current_rss_mb, health_watched, peak_rss_mb, refused, run_count, status_size
from tests.support.mesh import (
    Gateway,
    finished,
    kinds,
    probe_log,
    running_gateway,
    start_probe,
    step,
    workflow,
)
from tests.support.rpc import raw_unary


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"x": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def target(gateway: Gateway) -> str:
    return f"127.0.0.1:{gateway.process.port}"


# 1. A step with two or more dependencies was sometimes invoked twice.


@pytest.mark.parametrize("shape", ["timed", "skipped together"])
async def test_a_join_step_is_invoked_once_however_its_dependencies_finish(
    gateway: Gateway, workdir: Path, shape: str
) -> None:
    """The issue's a → (b, c) → d → e with 100-200 ms steps, ten runs at once; and the same with
    b and c skipped, which ends them in one commit every time (the old code then started d twice)."""
    when = "false" if shape == "skipped together" else ""

    def flow(n: int) -> workflow_pb2.Workflow:
        def s(sid: str, ms: int, deps: list[str], **extra: Any) -> dict[str, Any]:
            return step(sid, "echo", {"key": f"join-{shape}-{n}-{sid}", "ms": ms}, dependencies=deps, **extra)

        steps = [
            s("a", 100, []),
            s("b", 150, ["a"], when=when),
            s("c", 150, ["a"], when=when),
            s("d", 200, ["b", "c"]),
            s("e", 100, ["d"]),
        ]
        return workflow({"name": "join", "steps": steps})

    runs = await asyncio.gather(*(gateway.start_run(flow(n)) for n in range(10)))
    ran = "ade" if when else "abcde"
    for n, run in enumerate(runs):
        done, events = await finished(gateway, run)
        assert done.state == run_pb2.RUN_STATE_SUCCEEDED
        started = Counter(e.step_started.step_id for e in events if e.HasField("step_started"))
        assert started == dict.fromkeys(ran, 1)
        calls = Counter(r["key"] for r in probe_log(workdir / "probe.jsonl") if r["event"] == "started")
        assert [calls[f"join-{shape}-{n}-{sid}"] for sid in ran] == [1] * len(ran)


# 2. A 32-level input was accepted, then made its run unreadable and the gateway unable to restart.


async def test_an_input_nested_32_levels_is_refused_and_20_levels_is_accepted_and_readable(
    gateway: Gateway,
) -> None:
    flow = workflow(
        {"name": "deep", "steps": [step("echo", "echo", {"key": "deep", "value": "${inputs.payload}"})]}
    )
    before = await run_count(gateway.client)
    for field in ("inputs", "context.shared"):
        request = pb.StartRunRequest(workflow=flow)
        if field == "inputs":
            request.inputs.CopyFrom(dict_to_struct({"payload": nested(32)}))
        else:
            request.context.shared.CopyFrom(dict_to_struct({"payload": nested(32)}))
        error = await refused(gateway.wire.StartRun(request, timeout=10))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in error.violations] == [field]
        assert f"nested more than {MAX_JSON_DEPTH} levels" in error.violations[0].description
    assert await run_count(gateway.client) == before  # nothing stored

    run = await gateway.start_run(flow, {"payload": nested(MAX_JSON_DEPTH - 2)})
    done, events = await finished(gateway, run)
    assert done.state == run_pb2.RUN_STATE_SUCCEEDED
    assert struct_to_dict(done.outputs)["echo"]["value"] == nested(MAX_JSON_DEPTH - 2)
    assert kinds(events)[0] == "run_started"


async def test_a_stored_run_that_cannot_be_read_back_fails_alone_and_the_others_resume(workdir: Path) -> None:
    """A store written before inputs were bounded: one unfinished run's start event is nested past
    protobuf's decoding depth, beside an ordinary unfinished run. The gateway used to exit 1 or hang."""
    path = workdir / "unreadable.db"
    flow = workflow({"name": "resume-me", "steps": [step("s", "echo", {"key": "resume-me"})]})
    store = SqliteRunStore(path)
    await store.open()
    runs = {}
    for name, inputs in (("good", {}), ("bad", {"payload": nested(32)})):
        run = run_pb2.Run(
            run_id=new_run_id(),
            workflow=flow,
            state=run_pb2.RUN_STATE_RUNNING,
            steps=[run_pb2.StepRun(step_id="s", state=run_pb2.STEP_STATE_PENDING)],
            last_sequence=1,
        )
        run.inputs.update(inputs)  # in place: the constructor would decode a copy, and refuse it
        run.create_time.GetCurrentTime()
        run.start_time.CopyFrom(run.create_time)
        first = run_pb2.RunEvent(run_id=run.run_id, sequence=1, event_time=run.create_time)
        first.run_started.run.CopyFrom(run)
        await store.write(Batch(runs=[NewRun.of(run, first)]))
        runs[name] = run.run_id
    await store.close()

    probe = await start_probe(workdir / "probe-unreadable.jsonl")
    try:
        async with running_gateway(path, {"probe": [probe.port]}) as restarted:
            good, events = await finished(restarted, await restarted.get_run(runs["good"]))
            assert good.state == run_pb2.RUN_STATE_SUCCEEDED
            assert kinds(events) == [
                "run_started",
                "run_resumed",
                "step_started",
                "step_completed",
                "run_completed",
            ]
            async with asyncio.timeout(10):
                while (bad := await restarted.get_run(runs["bad"])).state == run_pb2.RUN_STATE_RUNNING:
                    await asyncio.sleep(0.05)
            assert bad.state == run_pb2.RUN_STATE_FAILED
            assert (bad.error.code, bad.error.reason) == ("DATA_LOSS", "RUN_UNREADABLE")
            assert restarted.process.logged("cannot resume run")
    finally:
        await probe.stop()


# 3. Single requests blocked the event loop for seconds; health missed its deadline meanwhile.


async def test_fifty_thousand_unclosed_templates_are_refused_while_health_answers(gateway: Gateway) -> None:
    flow = workflow({"name": "dollars", "steps": [step("s", "echo", {"key": "${" * 50_000})]})
    request = pb.ValidateWorkflowRequest(workflow=flow).SerializeToString()
    async with health_watched(gateway) as health:
        error = await refused(
            raw_unary(gateway.channel, "/agentmesh.v1.OrchestratorService/ValidateWorkflow")(
                request, timeout=30
            )
        )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.violations] == ["workflow.steps[0].input.key"]
    assert "never closed" in error.violations[0].description or "unclosed" in error.violations[0].description
    assert health.fine, health


async def test_ten_thousand_steps_are_refused_at_once_without_growing_the_gateway(gateway: Gateway) -> None:
    steps = [
        step(f"s{i}", "echo", {"key": "x"}, dependencies=[f"s{i - 1}"] if i else []) for i in range(10_000)
    ]
    request = pb.StartRunRequest(workflow=workflow({"name": "chain", "steps": steps})).SerializeToString()
    async with health_watched(gateway) as health:
        error = await refused(
            raw_unary(gateway.channel, "/agentmesh.v1.OrchestratorService/StartRun")(request, timeout=30)
        )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in error.violations] == [
        ("workflow.steps", f"at most {MAX_STEPS} steps (this one has 10,000)")
    ]
    assert health.fine, health
    assert peak_rss_mb(gateway.process.pid) < 400  # it was 2.3 GB


async def test_large_distinct_valid_workflows_are_validated_off_the_loop(gateway: Gateway) -> None:
    """Forty distinct workflows of ~900 KB each: all valid, validated while health answers."""
    padding = "p" * 800
    requests = [
        pb.ValidateWorkflowRequest(
            workflow=workflow(
                {
                    "name": f"big-{n}",
                    "steps": [
                        step(
                            f"s{i}",
                            "echo",
                            {"key": f"{n}", "pad": padding, "v": f"${{steps.s{i - 1}.output}}"}
                            if i
                            else {"key": "x"},
                            dependencies=[f"s{i - 1}"] if i else [],
                        )
                        for i in range(MAX_STEPS)
                    ],
                }
            )
        ).SerializeToString()
        for n in range(40)
    ]
    validate = raw_unary(gateway.channel, "/agentmesh.v1.OrchestratorService/ValidateWorkflow")
    async with health_watched(gateway) as health:
        for request in requests:
            answer = pb.ValidateWorkflowResponse.FromString(await validate(request, timeout=60))
            assert len(answer.execution_order) == MAX_STEPS
    assert health.fine, health


async def test_forty_distinct_five_megabyte_workflows_are_refused_and_kept_nowhere(gateway: Gateway) -> None:
    """They used to be validated and kept whole as cache keys: 500 MB for forty."""
    validate = raw_unary(gateway.channel, "/agentmesh.v1.OrchestratorService/ValidateWorkflow")
    before = current_rss_mb(gateway.process.pid)
    for n in range(40):
        flow = workflow(
            {"name": f"huge-{n}", "steps": [step("s", "echo", {"key": "x", "pad": f"{n}" + "p" * 5_000_000})]}
        )
        error = await refused(
            validate(pb.ValidateWorkflowRequest(workflow=flow).SerializeToString(), timeout=30)
        )
        assert [v.field for v in error.violations] == ["workflow"]
    assert current_rss_mb(gateway.process.pid) - before < 100  # it was over 200


# 4. Invalid workflows were answered INTERNAL instead of INVALID_ARGUMENT.

INVALID = {
    "deep minus": step("s", "echo", {"key": "${" + "-" * 5000 + "1}"}),
    "many nots": step("s", "echo", {"key": "x"}, when="not " * 3000 + "true"),
    "long attribute chain": step("s", "echo", {"key": "${inputs" + ".a" * 3000 + "}"}),
    "long index chain": step("s", "echo", {"key": "x"}, for_each="${inputs" + "[0]" * 3000 + "}"),
    "nested brackets": step("s", "echo", {"key": "${" + "[" * 900 + "]" * 900 + "}"}),
    "negative initial delay": step("s", "echo", {"key": "x"}, retry={"initial_delay": "-0.5s"}),
    "newline inside a template": step("s", "echo", {"key": "${inputs\n.topic}"}),
    "huge backoff": step("s", "echo", {"key": "x"}, retry={"backoff_multiplier": 1e308}),
}


@pytest.mark.parametrize("case", sorted(INVALID))
async def test_hostile_workflows_are_invalid_arguments_not_internal_errors(
    gateway: Gateway, case: str
) -> None:
    flow = workflow({"name": "hostile", "steps": [INVALID[case]]})
    error = await refused(
        gateway.wire.ValidateWorkflow(pb.ValidateWorkflowRequest(workflow=flow), timeout=20)
    )
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT, error.message
    assert error.reason == "INVALID_WORKFLOW" and error.violations


async def test_durations_out_of_range_or_malformed_are_invalid(gateway: Gateway) -> None:
    """Set on the message itself, as a client in any language can: ProtoJSON would refuse some."""
    cases = {
        "steps[0].timeout": (10**15, 0),  # overflowed a timedelta: INTERNAL before
        "steps[0].retry.initial_delay": (10**15, 0),
        "timeout": (10**15, 0),
        "steps[0].retry.max_delay": (0, 1_000_000_000),  # nanos of a second or more
    }
    for path, (seconds, nanos) in cases.items():
        flow = workflow({"name": "d", "steps": [step("s", "echo", {"key": "x"})]})
        holder: Any = flow
        *parents, leaf = path.replace("steps[0]", "steps.0").split(".")
        for part in parents:
            holder = holder[int(part)] if part.isdigit() else getattr(holder, part)
        getattr(holder, leaf).seconds = seconds
        getattr(holder, leaf).nanos = nanos
        error = await refused(
            gateway.wire.ValidateWorkflow(pb.ValidateWorkflowRequest(workflow=flow), timeout=10)
        )
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in error.violations] == [f"workflow.{path}"]
    for seconds, nanos in ((-1, 0), (0, -500_000_000), (1, -5)):  # negative, or signs that disagree
        flow = workflow({"name": "d", "steps": [step("s", "echo", {"key": "x"})]})
        flow.steps[0].retry.initial_delay.seconds = seconds
        flow.steps[0].retry.initial_delay.nanos = nanos
        error = await refused(
            gateway.wire.ValidateWorkflow(pb.ValidateWorkflowRequest(workflow=flow), timeout=10)
        )
        assert [v.field for v in error.violations] == ["workflow.steps[0].retry.initial_delay"]


# 5. Errors echoed user input without bound.


async def test_three_hundred_misspelled_agents_get_a_bounded_invalid_argument(gateway: Gateway) -> None:
    steps = [{"id": f"s{i}", "agent": f"agent-{i}-" + "z" * 3000, "skill": "echo"} for i in range(300)]
    request = pb.ValidateWorkflowRequest(workflow=workflow({"name": "x", "steps": steps}))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.wire.ValidateWorkflow(request, timeout=20)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # it was RESOURCE_EXHAUSTED
    assert status_size(caught.value) < 8192
    details = await refused(gateway.wire.ValidateWorkflow(request, timeout=20))
    assert 0 < len(details.violations) <= 21
    assert "more field violations" in details.violations[-1].description


async def test_a_five_megabyte_run_id_is_not_echoed_back(gateway: Gateway) -> None:
    huge = "r" * 5_000_000
    for call in (
        gateway.wire.GetRun(pb.GetRunRequest(run_id=huge), timeout=20),
        gateway.wire.CancelRun(pb.CancelRunRequest(run_id=huge), timeout=20),
    ):
        error = await refused(call)
        assert error.code == grpc.StatusCode.NOT_FOUND
        assert len(error.message) < 200 and echo(huge) in error.message


# 6. Sizes produced by expressions were unbounded.


async def test_an_expression_building_300_megabytes_fails_its_step_not_the_gateway(gateway: Gateway) -> None:
    flow = workflow({"name": "big", "steps": [step("s", "echo", {"key": "${'a' * 300000000}"})]})
    done, _ = await finished(gateway, await gateway.start_run(flow))
    assert done.state == run_pb2.RUN_STATE_FAILED
    assert done.error.reason == "EXPRESSION_FAILED" and "1,048,576 bytes" in done.error.message
    assert peak_rss_mb(gateway.process.pid) < 400  # it was 984 MB


async def test_run_outputs_of_17_megabytes_fail_the_run_and_everything_stays_readable(
    gateway: Gateway,
) -> None:
    flow = workflow(
        {"name": "big-out", "steps": [step("s", "echo", {"key": "o"})], "outputs": {"o": "${'a' * 17000000}"}}
    )
    run = await gateway.start_run(flow)
    done, events = await finished(gateway, run)
    assert done.state == run_pb2.RUN_STATE_FAILED
    assert kinds(events)[-1] == "run_failed" and "outputs" in done.error.message
    await gateway.wire.CancelRun(pb.CancelRunRequest(run_id=run.run_id), timeout=10)
    assert await run_count(gateway.client) > 0


@pytest.mark.parametrize(
    ("ask", "problem"),
    [({"bytes": MAX_STEP_OUTPUT_BYTES + 1}, "larger than"), ({"depth": 25}, "nested more than")],
)
async def test_an_agent_output_past_the_limits_fails_its_step(
    gateway: Gateway, ask: dict[str, int], problem: str
) -> None:
    flow = workflow({"name": "agent-big", "steps": [step("s", "big", ask)]})
    done, _ = await finished(gateway, await gateway.start_run(flow))
    assert done.state == run_pb2.RUN_STATE_FAILED
    assert done.error.reason == "OUTPUT_TOO_LARGE" and problem in done.error.message


async def test_list_runs_never_returns_a_page_a_default_client_cannot_receive(gateway: Gateway) -> None:
    """Eight runs of ~1 MB each: a client with gRPC's default 4 MiB limit pages through them all."""
    flow = workflow({"name": "fat", "steps": [step("s", "big", {"bytes": MAX_STEP_OUTPUT_BYTES - 1000})]})
    runs = await asyncio.gather(*(gateway.start_run(flow) for _ in range(8)))
    for run in runs:
        done, _ = await finished(gateway, run)
        assert done.state == run_pb2.RUN_STATE_SUCCEEDED
    async with grpc.aio.insecure_channel(target(gateway)) as default_client:
        stub = pb_grpc.OrchestratorServiceStub(default_client)
        seen: list[str] = []
        token = ""
        while True:
            page = await stub.ListRuns(pb.ListRunsRequest(page_size=50, page_token=token), timeout=20)
            seen += [r.run_id for r in page.runs]
            token = page.next_page_token
            if not token:
                break
    assert {r.run_id for r in runs} <= set(seen)
    assert len(seen) == len(set(seen))


async def test_a_for_each_over_too_many_items_fails_its_step(gateway: Gateway) -> None:
    flow = workflow(
        {"name": "wide", "steps": [step("s", "echo", {"key": "${item}"}, for_each="${[0] * 10001}")]}
    )
    done, _ = await finished(gateway, await gateway.start_run(flow))
    assert done.state == run_pb2.RUN_STATE_FAILED
    assert done.error.reason == "FOR_EACH_TOO_LONG" and "10,001 items" in done.error.message


async def test_inputs_and_shared_context_are_bounded_together(gateway: Gateway) -> None:
    flow = workflow({"name": "fat-inputs", "steps": [step("s", "echo", {"key": "x"})]})
    half = "h" * (MAX_RUN_INPUT_BYTES // 2 + 100)
    request = pb.StartRunRequest(workflow=flow, inputs=dict_to_struct({"a": half}))
    request.context.shared.update({"b": half})
    error = await refused(gateway.wire.StartRun(request, timeout=10))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.violations] == ["inputs"]
    assert "together with context.shared" in error.violations[0].description


# 7. Smaller ones.


async def test_step_started_names_the_replica_called(gateway: Gateway) -> None:
    flow = workflow({"name": "addr", "steps": [step("s", "echo", {"key": "addr"})]})
    _, events = await finished(gateway, await gateway.start_run(flow))
    started = [e.step_started for e in events if e.HasField("step_started")]
    agents = (await gateway.wire.ListAgents(pb.ListAgentsRequest(), timeout=5)).agents
    probe = next(a for a in agents if a.name == "probe")
    assert [s.address for s in started] == [probe.replicas[0].address]
