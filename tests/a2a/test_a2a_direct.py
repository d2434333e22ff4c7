"""Direct replies through the gateway's A2A surface, with a2a-sdk's client on all three bindings.

An agent's skill that replies directly (`Reply(direct=True)`, declared `direct_replies=True`) is
answered to an A2A caller as a Message: SendMessage returns it, a stream is that one Message. The
run is made and kept all the same, and the Message names it as its task. Anything else stays a
task: an ordinary skill's reply, a declared skill's ordinary reply, a reply whose text streamed
first, and a message answered at once (the reply is not known yet).
"""

from __future__ import annotations

from typing import Any

from a2a.client import Client
from a2a.types import a2a_pb2 as a2a

from agentmesh.client import Client as MeshClient
from agentmesh.messages import value_to_python
from tests.a2a.conftest import A2AGateway, message
from tests.a2a.test_a2a_server import artifact_data, final_task, send


def direct_request(key: str, **data: Any) -> a2a.SendMessageRequest:
    return a2a.SendMessageRequest(
        message=message({"key": key, **data}, context_id=f"ctx-{key}", metadata={"skill": "direct"})
    )


async def answers(
    served: A2AGateway, binding: str, request: a2a.SendMessageRequest, *, streaming: bool
) -> list[a2a.StreamResponse]:
    client: Client = await served.client(binding, streaming=streaming)
    try:
        return await send(client, request)
    finally:
        await client.close()


def check_reply(reply: a2a.Message, key: str) -> None:
    """The Message is the agent's reply, in the caller's context, naming its task."""
    assert reply.role == a2a.ROLE_AGENT and reply.context_id == f"ctx-{key}" and reply.task_id
    assert reply.parts[0].text == f"direct {key}"
    assert [value_to_python(p.data) for p in reply.parts if p.HasField("data")] == [{"key": key}]


async def test_a_direct_reply_answers_send_with_a_message_and_the_run_is_kept(
    served: A2AGateway, binding: str
) -> None:
    key = f"dm-send-{binding}"
    request = direct_request(key)
    [response] = await answers(served, binding, request, streaming=False)
    assert response.HasField("message"), response
    check_reply(response.message, key)
    # Sent again (a retry), the message finds the same run, and the same reply.
    [again] = await answers(served, binding, request, streaming=False)
    assert again.message == response.message
    # The task is the run, durable as any: it completed, with the reply as its artifact.
    client = await served.client(binding)
    try:
        task = await client.get_task(a2a.GetTaskRequest(id=response.message.task_id))
    finally:
        await client.close()
    assert task.status.state == a2a.TASK_STATE_COMPLETED and artifact_data(task) == {"key": key}
    async with await MeshClient.connect(f"127.0.0.1:{served.process.port}") as mesh:
        run = await mesh.get_run(task.id)
    assert run.state.value == "succeeded" and run.steps[0].direct


async def test_a_direct_reply_streams_as_a_single_message(served: A2AGateway, binding: str) -> None:
    key = f"dm-stream-{binding}"
    responses = await answers(served, binding, direct_request(key, ms=200), streaming=True)
    assert len(responses) == 1 and responses[0].HasField("message"), responses
    check_reply(responses[0].message, key)


async def test_an_ordinary_reply_is_a_task_whether_sent_or_streamed(served: A2AGateway, binding: str) -> None:
    for streaming in (False, True):
        key = f"task-{binding}-{streaming}"
        request = a2a.SendMessageRequest(message=message({"key": key}, metadata={"skill": "echo"}))
        responses = await answers(served, binding, request, streaming=streaming)
        task = final_task(responses)
        assert task.status.state == a2a.TASK_STATE_COMPLETED and artifact_data(task)["key"] == key
        assert not any(r.HasField("message") for r in responses)
        assert len(responses) == 1 if not streaming else len(responses) > 1


async def test_a_skill_that_may_reply_directly_but_does_not_gives_a_task(
    served: A2AGateway, binding: str
) -> None:
    for streaming in (False, True):
        key = f"dm-not-{binding}-{streaming}"
        responses = await answers(served, binding, direct_request(key, direct=False), streaming=streaming)
        task = final_task(responses)  # held back while the reply might have been direct, then sent
        assert task.status.state == a2a.TASK_STATE_COMPLETED and artifact_data(task) == {"key": key}
        assert not any(r.HasField("message") for r in responses)


async def test_streamed_text_makes_a_stream_a_task_but_send_still_answers_with_the_message(
    served: A2AGateway, binding: str
) -> None:
    key = f"dm-emit-{binding}"
    responses = await answers(served, binding, direct_request(key, emit="thinking"), streaming=True)
    task = final_task(responses)
    assert task.status.state == a2a.TASK_STATE_COMPLETED and artifact_data(task) == {"key": key}
    streamed = [r.artifact_update for r in responses if r.HasField("artifact_update")]
    assert [p.text for u in streamed if u.append for p in u.artifact.parts] == ["thinking"]
    key = f"dm-emit-send-{binding}"
    [response] = await answers(served, binding, direct_request(key, emit="thinking"), streaming=False)
    check_reply(response.message, key)


async def test_a_message_answered_at_once_is_answered_with_its_task(served: A2AGateway, binding: str) -> None:
    key = f"dm-now-{binding}"
    request = direct_request(key, ms=300)
    request.configuration.return_immediately = True
    [response] = await answers(served, binding, request, streaming=False)
    assert response.HasField("task") and response.task.status.state in (
        a2a.TASK_STATE_SUBMITTED,
        a2a.TASK_STATE_WORKING,
    )
