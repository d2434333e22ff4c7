"""The gateway as an A2A 1.0 server, driven by a2a-sdk's client on all three bindings.

Tasks are runs: a message to an exposed agent (a mesh agent, or a workflow) starts one; it can
be streamed, got, listed, cancelled and subscribed to; a task waiting for input is answered by
a follow-up message; errors come back as A2A's, on each binding in its own convention.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from a2a.client import Client
from a2a.types import a2a_pb2 as a2a
from a2a.utils.errors import (
    InvalidParamsError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)

from agentmesh.client import Client as MeshClient
from agentmesh.messages import struct_to_dict, value_to_python
from tests.a2a.conftest import A2AGateway, message
from tests.support import ROOT
from tests.support.mesh import probe_log


async def send(client: Client, request: a2a.SendMessageRequest) -> list[a2a.StreamResponse]:
    return [response async for response in client.send_message(request)]


def final_task(responses: list[a2a.StreamResponse]) -> a2a.Task:
    """The task as a client sees it once every update of the stream is applied to the first."""
    assert responses and responses[0].HasField("task"), responses
    task = a2a.Task()
    task.CopyFrom(responses[0].task)
    for response in responses[1:]:
        if response.HasField("task"):
            task.CopyFrom(response.task)
        elif response.HasField("status_update"):
            task.status.CopyFrom(response.status_update.status)
        elif response.HasField("artifact_update"):
            update = response.artifact_update
            same = [a for a in task.artifacts if a.artifact_id == update.artifact.artifact_id]
            if update.append and same:
                same[0].parts.extend(update.artifact.parts)
            else:
                task.artifacts.append(update.artifact)
    return task


def artifact_data(task: a2a.Task) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for artifact in task.artifacts:
        for part in artifact.parts:
            if part.HasField("data"):
                data.update(value_to_python(part.data))
    return data


def get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


async def test_cards_list_every_binding_the_resume_extension_and_the_skills(served: A2AGateway) -> None:
    status, mesh = await asyncio.to_thread(get_json, f"{served.http}/.well-known/agent-card.json")
    assert status == 200 and mesh["name"] == "agentmesh"
    assert {"workflows/greet-twice", "agents/probe"} <= {skill["id"] for skill in mesh["skills"]}
    status, card = await asyncio.to_thread(
        get_json, f"{served.http}/a2a/agents/probe/.well-known/agent-card.json"
    )
    assert status == 200 and card["name"] == "probe"
    interfaces = {i["protocolBinding"]: i for i in card["supportedInterfaces"]}
    assert set(interfaces) == {"GRPC", "JSONRPC", "HTTP+JSON"}
    assert interfaces["GRPC"]["tenant"] == "agents/probe"
    assert interfaces["GRPC"]["url"] == f"127.0.0.1:{served.process.port}"
    assert interfaces["JSONRPC"]["url"] == f"{served.http}/a2a/agents/probe"
    assert {s["id"] for s in card["skills"]} >= {"echo", "ask", "fail"}
    extensions = card["capabilities"]["extensions"]
    assert [e["uri"] for e in extensions] == ["https://agentmesh.dev/a2a/extensions/resume/v1"]
    assert card["capabilities"]["streaming"] is True
    assert "securitySchemes" not in card  # this gateway wants no token
    status, flow = await asyncio.to_thread(
        get_json, f"{served.http}/a2a/workflows/greet-twice/.well-known/agent-card.json"
    )
    assert status == 200 and [s["id"] for s in flow["skills"]] == ["greet-twice"]
    status, problem = await asyncio.to_thread(
        get_json, f"{served.http}/a2a/agents/ghost/.well-known/agent-card.json"
    )
    assert (status, problem["code"], problem["reason"]) == (404, "NOT_FOUND", "UNKNOWN_AGENT")


async def test_a_message_to_an_agent_is_a_run_of_it(served: A2AGateway, binding: str) -> None:
    client = await served.client(binding)
    try:
        request = a2a.SendMessageRequest(
            message=message({"key": f"send-{binding}", "value": 7}, metadata={"skill": "echo"})
        )
        task = final_task(await send(client, request))
    finally:
        await client.close()
    assert task.status.state == a2a.TASK_STATE_COMPLETED
    assert artifact_data(task) == {"key": f"send-{binding}", "value": 7}
    assert [p.text for a in task.artifacts for p in a.parts if p.text] == [f"echo send-{binding}"]
    # The task is the run, as any mesh client sees it.
    async with await MeshClient.connect(f"127.0.0.1:{served.process.port}") as mesh:
        run = await mesh.get_run(task.id)
    assert run.workflow_name == "a2a-agent:probe" and run.state.value == "succeeded"


async def test_a_workflow_streams_its_task_then_updates_and_its_outputs(
    served: A2AGateway, binding: str
) -> None:
    client = await served.client(binding, "/a2a/workflows/greet-twice")
    try:
        responses = await send(client, a2a.SendMessageRequest(message=message(text=f"ada-{binding}")))
    finally:
        await client.close()
    assert responses[0].HasField("task")  # the stream's first event is the task
    states = [r.status_update.status.state for r in responses if r.HasField("status_update")]
    assert states[-1] == a2a.TASK_STATE_COMPLETED
    outputs = [r.artifact_update.artifact for r in responses if r.HasField("artifact_update")]
    assert [value_to_python(p.data) for a in outputs for p in a.parts if p.HasField("data")] == [
        {"greeted": f"ada-{binding}"}
    ]


async def test_get_and_list_tasks_with_history_filters_and_pages(served: A2AGateway) -> None:
    client = await served.client("JSONRPC")
    try:
        ids = []
        for n in range(3):
            request = a2a.SendMessageRequest(
                message=message({"key": f"list-{n}"}, context_id="ctx-list", metadata={"skill": "echo"})
            )
            ids.append(final_task(await send(client, request)).id)
        got = await client.get_task(a2a.GetTaskRequest(id=ids[0], history_length=5))
        assert got.status.state == a2a.TASK_STATE_COMPLETED and len(got.history) == 1
        assert struct_to_dict(got.history[0].parts[0].data.struct_value) == {"key": "list-0"}
        first = await client.list_tasks(a2a.ListTasksRequest(context_id="ctx-list", page_size=2))
        rest = await client.list_tasks(
            a2a.ListTasksRequest(context_id="ctx-list", page_size=2, page_token=first.next_page_token)
        )
        done = await client.list_tasks(a2a.ListTasksRequest(status=a2a.TASK_STATE_COMPLETED, page_size=100))
    finally:
        await client.close()
    assert [t.id for t in first.tasks] + [t.id for t in rest.tasks] == ids[::-1]  # newest first
    assert first.next_page_token and not rest.next_page_token
    assert set(ids) <= {t.id for t in done.tasks}


async def test_a_task_is_cancelled_at_once_and_not_twice(served: A2AGateway, binding: str) -> None:
    client = await served.client(binding, streaming=False)
    key = f"cancel-{binding}"
    try:
        request = a2a.SendMessageRequest(
            message=message({"key": key, "ms": 30000}, metadata={"skill": "echo"}),
            configuration=a2a.SendMessageConfiguration(return_immediately=True),
        )
        task = final_task(await send(client, request))
        assert task.status.state == a2a.TASK_STATE_WORKING
        async with asyncio.timeout(20):
            while not [r for r in probe_log(served.probe_log) if r["key"] == key]:
                await asyncio.sleep(0.02)
        cancelled = await client.cancel_task(a2a.CancelTaskRequest(id=task.id))
        assert cancelled.status.state == a2a.TASK_STATE_CANCELED
        with pytest.raises(TaskNotCancelableError):
            await client.cancel_task(a2a.CancelTaskRequest(id=task.id))
    finally:
        await client.close()
    async with asyncio.timeout(10):  # the agent records the cancellation as it reaches it
        while [r["event"] for r in probe_log(served.probe_log) if r["key"] == key] != [
            "started",
            "cancelled",
        ]:
            await asyncio.sleep(0.02)


async def test_subscribing_follows_a_task_to_its_end_and_an_ended_one_is_refused(
    served: A2AGateway, binding: str
) -> None:
    sender = await served.client(binding, "/a2a/workflows/greet-twice", streaming=False)
    follower = await served.client(binding, "/a2a/workflows/greet-twice")
    try:
        request = a2a.SendMessageRequest(
            message=message({"who": f"sub-{binding}", "ms": 300}),
            configuration=a2a.SendMessageConfiguration(return_immediately=True),
        )
        task = final_task(await send(sender, request))
        followed = [r async for r in follower.subscribe(a2a.SubscribeToTaskRequest(id=task.id))]
        assert followed[0].task.id == task.id
        assert followed[-1].status_update.status.state == a2a.TASK_STATE_COMPLETED
        with pytest.raises(UnsupportedOperationError):
            [r async for r in follower.subscribe(a2a.SubscribeToTaskRequest(id=task.id))]
    finally:
        await sender.close()
        await follower.close()


async def test_a_question_is_input_required_and_a_follow_up_answers_it(
    served: A2AGateway, binding: str
) -> None:
    client = await served.client(binding)
    try:
        ask = {"key": f"ask-{binding}", "question": "How many?"}
        asked = final_task(
            await send(client, a2a.SendMessageRequest(message=message(ask, metadata={"skill": "ask"})))
        )
        assert asked.status.state == a2a.TASK_STATE_INPUT_REQUIRED
        assert asked.status.message.parts[0].text == "How many? (1 of 1)"
        with pytest.raises(InvalidParamsError):
            await send(client, a2a.SendMessageRequest(message=message({"choice": "lots"}, task_id=asked.id)))
        answer = message({"choice": 3}, task_id=asked.id, context_id=asked.context_id)
        done = final_task(await send(client, a2a.SendMessageRequest(message=answer)))
        history = await client.get_task(a2a.GetTaskRequest(id=asked.id))
    finally:
        await client.close()
    assert done.status.state == a2a.TASK_STATE_COMPLETED
    assert artifact_data(done) == {"key": f"ask-{binding}", "choices": [3]}
    # The conversation: the request, the question, the answer.
    assert [m.role for m in history.history] == [a2a.ROLE_USER, a2a.ROLE_AGENT, a2a.ROLE_USER]


async def test_errors_are_a2a_errors_on_every_binding(served: A2AGateway, binding: str) -> None:
    agent = await served.client(binding)
    flow = await served.client(binding, "/a2a/workflows/greet-twice")
    try:
        with pytest.raises(TaskNotFoundError):
            await agent.get_task(a2a.GetTaskRequest(id="f" * 32))
        with pytest.raises(InvalidParamsError) as missing:  # refused before anything is stored
            await send(flow, a2a.SendMessageRequest(message=message({"whom": "x"})))
        with pytest.raises(TaskNotFoundError):  # an answer to no task
            await send(agent, a2a.SendMessageRequest(message=message({"choice": 1}, task_id="f" * 32)))
        # An agent that refuses its input fails the task, saying why.
        refused = final_task(
            await send(agent, a2a.SendMessageRequest(message=message({"nope": 1}, metadata={"skill": "ask"})))
        )
        with pytest.raises(UnsupportedOperationError):  # an answer to a task that has ended
            await send(agent, a2a.SendMessageRequest(message=message({"choice": 1}, task_id=refused.id)))
    finally:
        await agent.close()
        await flow.close()
    assert "who" in str(missing.value)
    assert refused.status.state == a2a.TASK_STATE_FAILED
    assert refused.status.message.parts[0].text.startswith("INVALID_ARGUMENT")


async def test_the_mesh_card_routes_a_message_by_its_agent_metadata(served: A2AGateway) -> None:
    client = await served.client("JSONRPC", "")
    try:
        routed = message({"who": "root"}, metadata={"agent": "workflows/greet-twice"})
        task = final_task(await send(client, a2a.SendMessageRequest(message=routed)))
        with pytest.raises(InvalidParamsError):
            await send(client, a2a.SendMessageRequest(message=message({"who": "nobody"})))
    finally:
        await client.close()
    assert artifact_data(task) == {"greeted": "root"}


@pytest.mark.parametrize("transport", ["JSONRPC", "REST"])
async def test_the_a2a_js_sdk_sends_streams_and_cancels(served: A2AGateway, transport: str) -> None:
    """@a2a-js/sdk, the A2A project's JavaScript SDK, from Node: a client no one here wrote."""
    script = ROOT / "tests" / "support" / "a2a_js_client.mjs"
    process = await asyncio.create_subprocess_exec(
        "node", str(script), f"{served.http}/a2a/agents/probe", transport,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    seen = json.loads(out)
    completed, canceled = 3, 5  # TASK_STATE_COMPLETED and TASK_STATE_CANCELED in the JS SDK's enum
    assert seen["sent"]["state"] == completed
    assert seen["streamed"][0]["kind"] == "task" and seen["streamed"][-1] == {
        "kind": "statusUpdate",
        "state": completed,
    }
    assert seen["cancelled"]["state"] == canceled
    async with await MeshClient.connect(f"127.0.0.1:{served.process.port}") as mesh:
        assert (await mesh.get_run(seen["cancelled"]["id"])).state.value == "cancelled"
