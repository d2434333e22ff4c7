"""A step's files (StepCompleted.files, StepRun.files) through a real gateway and the probe agent:
recorded as the agent replied them, joined in item order for for_each, kept across a gateway killed
mid-run (the resumed run rebuilds them from its events), bounded like a step's output."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agentmesh import RawPart, UrlPart
from agentmesh.client import Run, StepCompleted
from agentmesh.v1 import run_pb2
from agentmesh_gateway.limits import MAX_STEP_OUTPUT_BYTES
from tests.support.mesh import Gateway, finished, probe_log, running_gateway, start_probe, step, workflow

URL = "https://example.com/chart.png"
FILES = workflow(
    {
        "name": "files",
        "steps": [
            step("one", "file", {"key": "one", "content": "alpha", "url": URL}),
            step(
                "fan",
                "file",
                {
                    "key": "fan-${item}",
                    "content": "item ${item}",
                    "filename": "f${item}.txt",
                    "ms": "${item * 50}",
                },
                for_each="${[0, 1, 2]}",
            ),
            step("plain", "echo", {"key": "plain"}),
        ],
    }
)
ONE = (RawPart(b"alpha", "text/plain", "output.txt"), UrlPart(URL, "text/plain", "output.txt"))
FAN = tuple(RawPart(f"item {i}".encode(), "text/plain", f"f{i}.txt") for i in range(3))


def files_of(part: run_pb2.StepCompleted | run_pb2.StepRun) -> list[tuple[str, bytes | str, str, str]]:
    """Each file as (kind, content, media type, file name)."""
    return [
        (str(f.WhichOneof("content")), f.raw if f.HasField("raw") else f.url, f.media_type, f.filename)
        for f in part.files
    ]


def check_run(run: Run) -> None:
    assert run.step("one").files == ONE
    assert run.step("fan").files == FAN  # the items' files, in item order
    assert run.step("plain").files == ()


async def test_a_steps_files_are_recorded_and_come_back_in_get_run_and_events(gateway: Gateway) -> None:
    handle = await gateway.start_run(FILES)
    done, events = await finished(gateway, handle)
    assert done.state == run_pb2.RUN_STATE_SUCCEEDED, done.error
    check_run(await gateway.client.get_run(handle.run_id))
    one = next(s for s in done.steps if s.step_id == "one")
    assert files_of(one) == [
        ("raw", b"alpha", "text/plain", "output.txt"),
        ("url", URL, "text/plain", "output.txt"),
    ]
    assert one.text == "file one" and one.output.struct_value["key"] == "one"

    completed = [e.step_completed for e in events if e.HasField("step_completed")]
    by_item = {(c.step_id, c.item if c.HasField("item") else None): c for c in completed}
    assert files_of(by_item["one", None]) == files_of(one)
    for i in range(3):
        assert files_of(by_item["fan", i]) == [("raw", f"item {i}".encode(), "text/plain", f"f{i}.txt")]
    assert [f.filename for f in by_item["fan", None].files] == ["f0.txt", "f1.txt", "f2.txt"]

    # The client's events say the same, converted when asked for.
    seen = [e async for e in gateway.client.handle(handle.run_id).events()]
    joined = next(e for e in seen if isinstance(e, StepCompleted) and e.step_id == "fan" and e.item is None)
    assert joined.files == FAN

    # ListRuns, like for outputs, leaves the bytes to GetRun.
    async for listed in gateway.client.list_runs(page_size=50):
        if listed.run_id == handle.run_id:
            assert all(step.files == () for step in listed.steps)
            break
    else:
        raise AssertionError("ListRuns did not list the run")


@pytest.mark.parametrize(
    ("input", "for_each", "problem"),
    [
        (
            {"bytes": MAX_STEP_OUTPUT_BYTES + 1, "content": ""},
            "",
            "output, text and files of step 's' are larger",
        ),
        ({"bytes": MAX_STEP_OUTPUT_BYTES // 2, "content": ""}, "${[0, 1, 2]}", "items together"),
    ],
)
async def test_files_past_the_step_output_limit_fail_the_step(
    gateway: Gateway, input: dict[str, object], for_each: str, problem: str
) -> None:
    extra = {"for_each": for_each} if for_each else {}
    flow = workflow({"name": "fat-file", "steps": [step("s", "file", input, **extra)]})
    done, events = await finished(gateway, await gateway.start_run(flow))
    assert done.state == run_pb2.RUN_STATE_FAILED
    assert done.error.reason == "OUTPUT_TOO_LARGE" and problem in done.error.message, done.error
    # Nothing over the limit was recorded.
    assert not [e for e in events if e.HasField("step_completed") and not e.step_completed.HasField("item")]


@pytest.mark.slow
async def test_files_survive_a_gateway_killed_mid_run(tmp_path: Path) -> None:
    """Step one and item 0 of fan complete; the gateway is killed while items 1 and 2 work. The
    next gateway resumes the run from its events: one's files, and the join of fan's items (item 0
    recorded before the kill), are what the agent replied."""
    log = tmp_path / "probe.jsonl"
    probe = await start_probe(log)
    store = tmp_path / "gateway.db"
    slow = workflow(
        {
            "name": "files-slow",
            "steps": [
                step("one", "file", {"key": "one", "content": "alpha", "url": URL}),
                step(
                    "fan",
                    "file",
                    {"key": "fan-${item}", "content": "item ${item}", "filename": "f${item}.txt",
                     "ms": "${item * 3000}"},
                    for_each="${[0, 1, 2]}",
                    dependencies=["one"],
                ),
            ],
        }
    )  # fmt: skip
    try:
        async with running_gateway(store, {"probe": [probe.port]}) as first:
            handle = await first.start_run(slow)
            async with asyncio.timeout(30):
                async for event in first.client.handle(handle.run_id).events():
                    if isinstance(event, StepCompleted) and (event.step_id, event.item) == ("fan", 0):
                        break
            while not [r for r in probe_log(log) if r["key"] == "fan-2"]:
                await asyncio.sleep(0.01)
            await first.process.kill()
        async with running_gateway(store, {"probe": [probe.port]}) as second:
            done, events = await finished(second, handle)
            run = await second.client.get_run(handle.run_id)
    finally:
        await probe.stop()
    assert done.state == run_pb2.RUN_STATE_SUCCEEDED, done.error
    assert any(e.HasField("run_resumed") for e in events)
    started = [r["key"] for r in probe_log(log) if r["event"] == "started"]
    assert started.count("one") == 1 and started.count("fan-0") == 1  # not invoked again
    assert run.step("one").files == ONE
    assert run.step("fan").files == FAN
