"""A remote A2A agent's files become its step's files: the file parts (raw, url) of a completed
task's artifacts, and of a direct reply, are recorded in StepCompleted.files with their filename
and media type, on every binding the gateway speaks to it by."""

from __future__ import annotations

import pytest

from agentmesh.v1 import run_pb2
from tests.remote.conftest import flow
from tests.support.a2a_agent import FILE_URL
from tests.support.mesh import Gateway, finished

FILES = [
    ("raw", b"remote bytes", "text/plain", "output.txt"),
    ("url", FILE_URL, "text/plain", "output.txt"),
]


def files_of(part: run_pb2.StepCompleted | run_pb2.StepRun) -> list[tuple[str, bytes | str, str, str]]:
    return [
        (str(f.WhichOneof("content")), f.raw if f.HasField("raw") else f.url, f.media_type, f.filename)
        for f in part.files
    ]


@pytest.mark.parametrize("agent", ["weather", "weather_rpc", "weather_rest"])
async def test_a_remote_tasks_file_artifact_is_the_steps_file(gateway: Gateway, agent: str) -> None:
    run, events = await finished(gateway, await gateway.start_run(flow(agent, {"behaviour": "file"})))
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.error
    assert run.steps[0].text == "filed"
    assert files_of(run.steps[0]) == FILES
    [completed] = [e.step_completed for e in events if e.HasField("step_completed")]
    assert files_of(completed) == FILES


async def test_a_remote_agents_direct_reply_with_files_is_the_steps_file(gateway: Gateway) -> None:
    run, _ = await finished(
        gateway, await gateway.start_run(flow("weather", {"behaviour": "message", "files": True}))
    )
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.error
    assert run.steps[0].text == "hello"
    assert files_of(run.steps[0]) == FILES
