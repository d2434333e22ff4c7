"""The scenario agent of the A2A TCK (a2aproject/a2a-tck), as a mesh agent the gateway exposes
as the A2A agent `agents/tck`.

The TCK tells its agent what to do by the prefix of a message's id (its `scenarios/*.feature`).
A message that starts a task reaches a mesh agent as its step's input, not as the message the
caller sent: the gateway keeps the A2A message's id as the run's request id (`a2a:ID`, what makes
a re-sent message find its task), so the first call reads it from the run, through the mesh's
own API (GetRun, by the `agentmesh-run-id` the gateway sends with every call). A message to a
task waiting for input comes as the answer itself, its id as the caller sent it.

The scenario skill may reply directly (a Message, not a task: "tck-message-response"), and says
so on its card, so the gateway's streams of it hold the task back until the reply is known or
text streams.

Environment: AGENTMESH_GATEWAY (the gateway's gRPC address, required), TCK_STREAMING_TIMEOUT
(seconds, the TCK's; a task for its resubscription test works for twice as long).
"""

from __future__ import annotations

import asyncio
import os

import grpc
from pydantic import BaseModel, ConfigDict

from agentmesh import Agent, AgentMeshError, Ask, Client, Context, RawPart, Reply, UrlPart

#: The prefix of the A2A request id the gateway gives a run an A2A message started.
REQUEST_ID_PREFIX = "a2a:"

agent = Agent("tck", description="The A2A TCK's scenario agent: it acts on the prefix of a message's id.")
_client: Client | None = None


class AnyInput(BaseModel):
    """Whatever the TCK's message held: its text (if any) and its data parts' fields."""

    model_config = ConfigDict(extra="allow")
    text: str = ""


async def _gateway() -> Client:
    global _client
    if _client is None:
        _client = await Client.connect()
    return _client


async def message_id(ctx: Context) -> str:
    """The id of the A2A message this call acts on: the answer's, else the one that started the run."""
    if ctx.answer is not None:
        return ctx.answer.message_id
    run = await (await _gateway()).get_run(ctx.metadata["agentmesh-run-id"])
    return run.request_id.split("\n")[-1].removeprefix(REQUEST_ID_PREFIX)


def _streaming_timeout() -> float:
    return float(os.environ.get("TCK_STREAMING_TIMEOUT") or 2.0)


@agent.skill(
    "scenario",
    "Acts as the TCK's scenario for the prefix of the message's id; completes the task otherwise.",
    input=AnyInput,
    streams=True,
    asks_for_input=True,
    direct_replies=True,
)
async def scenario(data: AnyInput, ctx: Context) -> Reply | Ask:
    mid = await message_id(ctx)
    # Longest prefixes first: "tck-artifact-file-url" also starts with "tck-artifact-file".
    if mid.startswith("tck-input-required"):
        return Ask("The TCK scenario asks for input.")
    if mid.startswith("tck-reject-task"):
        raise AgentMeshError("rejected", code=grpc.StatusCode.FAILED_PRECONDITION, reason="REJECTED")
    if mid.startswith("test-resubscribe-message-id"):
        await asyncio.sleep(2 * _streaming_timeout())
        return Reply(text="Resubscription task done")
    if mid.startswith("tck-message-response"):
        return Reply(text="Direct message response", direct=True)  # a Message, not a task
    if mid.startswith("tck-stream-artifact-chunked"):
        await ctx.emit("chunk-1 ")
        await ctx.emit("chunk-2")
        return Reply()
    for prefix, text in TEXTS:
        if mid.startswith(prefix):
            return Reply(text=text)
    if mid.startswith("tck-artifact-data"):
        return Reply(data={"key": "value", "count": 42})
    if mid.startswith("tck-artifact-file-url"):
        return Reply(files=[UrlPart("https://example.com/output.txt", "text/plain", "output.txt")])
    if mid.startswith(("tck-artifact-file", "tck-stream-artifact-file")):
        return Reply(files=[RawPart(b"tck", "text/plain", "output.txt")])
    if mid.startswith("tck-stream-002"):
        return Reply()
    return Reply(text="Hello from TCK")


#: The scenarios whose task completes with one text (the same whether streamed or not).
TEXTS = (
    ("tck-complete-task", "Hello from TCK"),
    ("tck-artifact-text", "Generated text content"),
    ("tck-stream-001", "Stream hello from TCK"),
    ("tck-stream-003", "Stream task lifecycle"),
    ("tck-stream-ordering-001", "Ordered output"),
    ("tck-stream-artifact-text", "Streamed text content"),
)


if __name__ == "__main__":
    agent.run()
