"""A real A2A 1.0 agent for the tests of the gateway's remote agents, built on a2a-sdk's server.

An `AgentExecutor` behind a2a-sdk's `DefaultRequestHandler`, served over the three bindings:
JSON-RPC (at `/`) and HTTP+JSON (under `/rest`) by uvicorn, gRPC on a port of its own. The card
is at `/.well-known/agent-card.json`. On start it logs `{"msg": "listening", "port": HTTP_PORT,
"grpc_port": GRPC_PORT}` on stderr (what `ServerProcess` waits for).

Every message it receives, every cancellation and every end of an execution is appended as a
JSON line to $A2A_AGENT_LOG, with the headers (or gRPC metadata) it came with, so a test can
count deliveries and see traceparent and Authorization.

What it does is chosen by the message's data part, `{"behaviour": ..., "key": ...}`:

- `answer` (default): completes at once, an artifact with `{"key", "echo"}` and the text "answered".
- `stream`: `chunks` text chunks (one artifact, appended) and a status text each, then completes.
- `ask`: INPUT_REQUIRED with the question "Which one?"; the answer (a message to the same task)
  completes it with `{"key", "answer"}` (the answer's data) and the text "thanks".
- `slow`: works `seconds` seconds (status "working"), then completes like `answer`.
- `fail`: FAILED, with `retryable` in the status message's metadata if given; `reject`: REJECTED.
- `message`: a Message in reply, no task: the text "hello" and `{"key", "replied": true}` (and, with
  `files: true`, the file parts `file` answers with).
- `file`: completes at once, an artifact with the text "filed", a raw file part (b"remote bytes",
  text/plain, "output.txt") and a url part (FILE_URL, text/plain, "output.txt").

Environment: A2A_AGENT_LOG (required), A2A_AGENT_BINDINGS (the card's interfaces, in order;
default `GRPC,JSONRPC,HTTP+JSON`), A2A_AGENT_STREAMING (`0`: the card says no streaming).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
import time
from typing import Any

import grpc
import uvicorn
from a2a.helpers.proto_helpers import new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler, GrpcHandler
from a2a.server.routes import (
    DefaultServerCallContextBuilder,
    create_agent_card_routes,
    create_jsonrpc_routes,
    create_rest_routes,
)
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import a2a_pb2 as a2a
from a2a.types import a2a_pb2_grpc
from google.protobuf import json_format, struct_pb2
from starlette.applications import Starlette
from starlette.requests import Request

LOG = os.environ.get("A2A_AGENT_LOG", "")
FILE_URL = "https://example.com/output.txt"


def record(event: str, **fields: Any) -> None:
    entry = {"event": event, "time": time.time(), **fields}
    with open(LOG, "a") as log:
        log.write(json.dumps(entry) + "\n")


class _WithBinding(DefaultServerCallContextBuilder):
    """The call's context, saying which HTTP binding it came by."""

    def __init__(self, binding: str) -> None:
        self._binding = binding

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        context.state["binding"] = self._binding
        return context


def binding_of(context: RequestContext) -> str:
    state = context.call_context.state
    return "GRPC" if "grpc_context" in state else str(state.get("binding", ""))


def headers_of(context: RequestContext) -> dict[str, str]:
    """The call's HTTP headers or gRPC metadata, lower-case names."""
    state = context.call_context.state
    if "headers" in state:
        return {str(k).lower(): str(v) for k, v in state["headers"].items()}
    grpc_context = state.get("grpc_context")
    if grpc_context is not None:
        metadata = grpc_context.invocation_metadata() or ()
        return {k.lower(): v if isinstance(v, str) else v.decode() for k, v in metadata}
    return {}


def data_of(message: a2a.Message | None) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in message.parts if message is not None else ():
        if part.HasField("data") and part.data.HasField("struct_value"):
            merged.update(json_format.MessageToDict(part.data.struct_value))
    return merged


def text_of(message: a2a.Message | None) -> str:
    return "".join(part.text for part in (message.parts if message is not None else ()) if part.text)


def file_parts() -> list[a2a.Part]:
    return [
        a2a.Part(raw=b"remote bytes", media_type="text/plain", filename="output.txt"),
        a2a.Part(url=FILE_URL, media_type="text/plain", filename="output.txt"),
    ]


def data_part(data: dict[str, Any]) -> a2a.Part:
    value = struct_pb2.Value()
    json_format.ParseDict(data, value.struct_value)
    return a2a.Part(data=value)


class Behaviours(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        headers = headers_of(context)
        task_id, context_id = context.task_id or "", context.context_id or ""
        current = context.current_task
        record(
            "message",
            message_id=message.message_id if message else "",
            task_id=task_id,
            context_id=context_id,
            continues=current is not None,
            data=data_of(message),
            text=text_of(message),
            metadata=json_format.MessageToDict(message.metadata) if message else {},
            traceparent=headers.get("traceparent", ""),
            authorization=headers.get("authorization", ""),
            idempotency_key=headers.get("agentmesh-idempotency-key", ""),
            binding=binding_of(context),
        )
        updater = TaskUpdater(event_queue, task_id, context_id)
        # A continuation (the answer to a question) is told apart by the task it names.
        if current is not None and current.status.state == a2a.TASK_STATE_INPUT_REQUIRED:
            original = data_of(current.history[0]) if current.history else {}
            answered = {"key": original.get("key", ""), "answer": data_of(message)}
            await updater.add_artifact([data_part(answered)])
            await updater.add_artifact([a2a.Part(text="thanks")])
            await updater.complete()
            return
        data = data_of(message)
        key = str(data.get("key", ""))
        behaviour = data.get("behaviour", "answer")
        if behaviour == "message":  # a reply with no task
            reply = a2a.Message(
                message_id=f"reply-{task_id}",
                context_id=context_id,
                role=a2a.ROLE_AGENT,
                parts=[a2a.Part(text="hello"), data_part({"key": key, "replied": True})],
            )
            if data.get("files"):
                reply.parts.extend(file_parts())
            await event_queue.enqueue_event(reply)
            return
        if current is None and message is not None:
            await event_queue.enqueue_event(new_task_from_user_message(message))
        try:
            await updater.start_work(updater.new_agent_message([a2a.Part(text="working")]))
            match behaviour:
                case "stream":
                    for n in range(int(data.get("chunks", 3))):
                        await updater.update_status(
                            a2a.TASK_STATE_WORKING,
                            updater.new_agent_message([a2a.Part(text=f"[status {n}]")]),
                        )
                        await updater.add_artifact(
                            [a2a.Part(text=f"chunk {n}. ")], artifact_id="story", append=n > 0
                        )
                        await asyncio.sleep(0.1)
                    chunks = int(data.get("chunks", 3))
                    await updater.add_artifact([data_part({"key": key, "chunks": chunks})])
                    await updater.complete()
                case "ask":
                    await updater.requires_input(updater.new_agent_message([a2a.Part(text="Which one?")]))
                case "slow":
                    await asyncio.sleep(float(data.get("seconds", 5)))
                    await updater.add_artifact([data_part({"key": key, "echo": data})])
                    await updater.add_artifact([a2a.Part(text="answered")])
                    await updater.complete()
                case "fail":
                    failure = updater.new_agent_message(
                        [a2a.Part(text=str(data.get("message", "told to fail")))],
                        metadata={"retryable": True} if data.get("retryable") else None,
                    )
                    await updater.failed(failure)
                case "reject":
                    await updater.reject(updater.new_agent_message([a2a.Part(text="not doing that")]))
                case "file":
                    await updater.add_artifact([a2a.Part(text="filed"), *file_parts()], name="output")
                    await updater.complete()
                case _:
                    await updater.add_artifact([data_part({"key": key, "echo": data})])
                    await updater.add_artifact([a2a.Part(text="answered")])
                    await updater.complete()
        except asyncio.CancelledError:
            record("cancelled", task_id=task_id, key=key)
            raise
        record("finished", task_id=task_id, key=key, behaviour=behaviour)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        record("cancel", task_id=context.task_id or "")
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        await updater.cancel()


def card(http: str, grpc_target: str) -> a2a.AgentCard:
    urls = {"GRPC": grpc_target, "JSONRPC": f"{http}/", "HTTP+JSON": f"{http}/rest"}
    bindings = os.environ.get("A2A_AGENT_BINDINGS", "GRPC,JSONRPC,HTTP+JSON").split(",")
    return a2a.AgentCard(
        name="weather",
        description="A remote A2A agent for the tests.",
        version="1.0.0",
        supported_interfaces=[
            a2a.AgentInterface(url=urls[b], protocol_binding=b, protocol_version="1.0") for b in bindings
        ],
        capabilities=a2a.AgentCapabilities(streaming=os.environ.get("A2A_AGENT_STREAMING", "1") != "0"),
        default_input_modes=["application/json", "text/plain"],
        default_output_modes=["application/json", "text/plain"],
        skills=[
            a2a.AgentSkill(
                id="forecast",
                name="Forecast",
                description="Tells the weather.",
                tags=["weather", "test"],
                examples=["Will it rain?"],
            ),
            a2a.AgentSkill(id="chat", name="Chat", description="Talks.", tags=["talk"]),
        ],
    )


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


async def serve(host: str, port: int, grpc_port: int) -> None:
    sock = bind(host, port)
    http_port = sock.getsockname()[1]
    server = grpc.aio.server()
    grpc_port = server.add_insecure_port(f"{host}:{grpc_port}")
    agent_card = card(f"http://{host}:{http_port}", f"{host}:{grpc_port}")
    handler = DefaultRequestHandler(Behaviours(), InMemoryTaskStore(), agent_card)
    routes = [
        *create_agent_card_routes(agent_card),
        *create_rest_routes(handler, _WithBinding("HTTP+JSON"), path_prefix="/rest"),
        *create_jsonrpc_routes(handler, "/", _WithBinding("JSONRPC")),
    ]
    a2a_pb2_grpc.add_A2AServiceServicer_to_server(GrpcHandler(handler), server)  # type: ignore[no-untyped-call]
    await server.start()
    config = uvicorn.Config(Starlette(routes=routes), log_config=None, access_log=False, lifespan="off")
    http = _Uvicorn(config)
    task = asyncio.create_task(http.serve(sockets=[sock]))
    while not http.started:
        await asyncio.sleep(0.01)
    listening = {"msg": "listening", "port": http_port, "grpc_port": grpc_port}
    print(json.dumps(listening), file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    http.should_exit = True
    await task
    await server.stop(0.5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--grpc-port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.grpc_port))


if __name__ == "__main__":
    main()
