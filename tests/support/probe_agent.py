"""A test agent that records what it is asked to do, for the gateway tests.

Every invocation appends JSON lines to $PROBE_LOG (started, finished, cancelled),
with the gateway's idempotency key and this process's port, so a test can count
invocations, see overlap and see cancellation from the agent's side.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from typing import Any

import grpc
from pydantic import BaseModel

from agentmesh import Agent, AgentMeshError, Ask, Context, Reply
from agentmesh.messages import RawPart, TokenUsage, UrlPart

agent = Agent("probe", description="Records its invocations for tests.")
calls: Counter[str] = Counter()


def record(ctx: Context, event: str, key: str, **fields: Any) -> None:
    entry = {
        "event": event,
        "skill": ctx.skill,
        "key": key,
        "idempotency_key": ctx.idempotency_key,
        "principal": ctx.principal,
        "replica": os.environ.get("PROBE_LABEL", ""),
        "traceparent": ctx.metadata.get("traceparent", ""),
        "time": time.monotonic(),
        **fields,
    }
    with open(os.environ["PROBE_LOG"], "a") as log:
        log.write(json.dumps(entry) + "\n")


class Echo(BaseModel):
    key: str = ""
    value: Any = None
    ms: int = 0
    #: Tokens to report having spent (as prompt tokens), as a model-calling skill would.
    tokens: int = 0


class Flaky(BaseModel):
    key: str
    succeed_on: int = 3
    code: str = "UNAVAILABLE"


class Big(BaseModel):
    bytes: int = 0
    depth: int = 0


class Fail(BaseModel):
    code: str
    message: str = "told to fail"
    #: Fail only once a call with this key has started (a test's way to order two steps).
    after: str = ""


@agent.skill("echo", "Return the value, after `ms` milliseconds.", input=Echo)
async def echo(data: Echo, ctx: Context) -> Reply:
    record(ctx, "started", data.key)
    try:
        await asyncio.sleep(data.ms / 1000)
    except asyncio.CancelledError:
        record(ctx, "cancelled", data.key)
        raise
    record(ctx, "finished", data.key)
    ctx.usage += TokenUsage(input_tokens=data.tokens)
    return Reply(text=f"echo {data.key}", data={"key": data.key, "value": data.value})


@agent.skill("flaky", "Fail with `code` until the succeed_on-th call for `key`.", input=Flaky)
async def flaky(data: Flaky, ctx: Context) -> Reply:
    calls[data.key] += 1
    record(ctx, "started", data.key, call=calls[data.key])
    if calls[data.key] < data.succeed_on:
        raise AgentMeshError(f"flaky call {calls[data.key]}", code=grpc.StatusCode[data.code], reason="FLAKY")
    return Reply(text="finally", data={"calls": calls[data.key]})


@agent.skill("big", "Return an output of `bytes` characters, or nested `depth` levels deep.", input=Big)
async def big(data: Big, ctx: Context) -> Reply:
    nested: Any = "x" * data.bytes
    for _ in range(data.depth):
        nested = {"d": nested}
    return Reply(data={"value": nested})


class Files(BaseModel):
    key: str = ""
    #: A file of these bytes (`content`, else `bytes` times "x"), unless both are empty.
    content: str = "hello"
    bytes: int = 0
    #: And a file by reference, if given.
    url: str = ""
    filename: str = "output.txt"
    media_type: str = "text/plain"
    #: Milliseconds to wait before replying.
    ms: int = 0


@agent.skill("file", "Reply with a file (`content`, or `bytes` of x) and a link to `url`.", input=Files)
async def file(data: Files, ctx: Context) -> Reply:
    record(ctx, "started", data.key)
    await asyncio.sleep(data.ms / 1000)
    raw = data.content.encode() if data.content else b"x" * data.bytes
    files: list[RawPart | UrlPart] = [RawPart(raw, data.media_type, data.filename)] if raw else []
    if data.url:
        files.append(UrlPart(data.url, data.media_type, data.filename))
    return Reply(text=f"file {data.key}", data={"key": data.key}, files=files)


def started(key: str) -> bool:
    with open(os.environ["PROBE_LOG"]) as log:
        entries = [json.loads(line) for line in log]
    return any(entry["key"] == key and entry["event"] == "started" for entry in entries)


class Question(BaseModel):
    key: str
    question: str = "Which one?"
    asks: int = 1


class Choice(BaseModel):
    choice: int


@agent.skill(
    "ask",
    "Ask `asks` questions (an integer `choice` each), then echo the answers.",
    input=Question,
    asks_for_input=True,
)
async def ask(data: Question, ctx: Context) -> Reply | Ask:
    record(ctx, "asked" if ctx.turn < data.asks else "answered", data.key, turn=ctx.turn)
    if ctx.turn < data.asks:
        return Ask(f"{data.question} ({ctx.turn + 1} of {data.asks})", schema=Choice)
    answers = [Choice.model_validate(turn.data).choice for turn in ctx.history[2::2]]
    answers.append(ctx.answer_as(Choice).choice)
    return Reply(text=f"chose {answers}", data={"key": data.key, "choices": answers})


class Direct(BaseModel):
    key: str = ""
    #: Reply as a task's result after all: the skill only may reply directly.
    direct: bool = True
    #: Text to stream first (streamed text makes the answer a task's, whatever the reply).
    emit: str = ""
    ms: int = 0


@agent.skill(
    "direct",
    "Reply with a direct message (a task's result if `direct` is false), after `emit` and `ms`.",
    input=Direct,
    streams=True,
    direct_replies=True,
)
async def direct(data: Direct, ctx: Context) -> Reply:
    record(ctx, "started", data.key)
    if data.emit:
        await ctx.emit(data.emit)
    await asyncio.sleep(data.ms / 1000)
    return Reply(text=f"direct {data.key}", data={"key": data.key}, direct=data.direct)


@agent.skill("fail", "Fail with the given gRPC code (once the call keyed `after` has started).", input=Fail)
async def fail(data: Fail, ctx: Context) -> Reply:
    record(ctx, "started", "fail")
    async with asyncio.timeout(30):
        while data.after and not started(data.after):
            await asyncio.sleep(0.01)
    raise AgentMeshError(data.message, code=grpc.StatusCode[data.code], reason="TOLD_TO_FAIL")


if __name__ == "__main__":
    agent.run()
