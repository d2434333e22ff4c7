"""One call of a step to a remote A2A agent: one turn of its conversation with one remote task.

- The step's message goes out with SendStreamingMessage if the card says the agent streams, else
  with SendMessage asking to return at once (`return_immediately`), the task then polled with
  GetTask. Its message_id is the attempt's idempotency key (run/step/item/attempt, and the turn),
  its context_id the run's id, its data part the step's input, metadata `skill` the step's skill.
- The task's id is recorded (StepRemoteTask, through the ledger) as soon as it is known and
  before anything else is awaited, so an attempt resumed after the gateway stopped (even by
  SIGKILL) re-attaches to the task: SubscribeToTask while it runs, GetTask once it ended. A
  resumed attempt with no task recorded looks for one its message started (ListTasks in the
  run's context, by message id) before it sends the message again.
- Status messages and artifact text stream in as the step's text chunks; the completed task's
  artifacts are the step's output and text (see `convert`).
- INPUT_REQUIRED is the mesh's question (an InvokeResponse with input_required, the status
  message as the question); the answer goes to the same task (a message with its task_id). That
  an answer reached the task is recorded too (StepRemoteTask with the turn), so it is never
  delivered twice.
- How a task ends, as a failure of the call (the retry policy decides on a new attempt, which
  starts a new task): FAILED is FAILED_PRECONDITION (not retried), or UNAVAILABLE (retried) when
  the agent marks it `retryable: true` in the status message's or the task's metadata; REJECTED
  is FAILED_PRECONDITION; CANCELED is CANCELLED; AUTH_REQUIRED (which the mesh cannot satisfy)
  cancels the task and is UNAUTHENTICATED. A task that COMPLETED is the result whatever attempt
  finds it.
- Transport failures: unreachable or 5xx/429 is UNAVAILABLE (retried: the retry re-attaches to
  the task, which is still the invocation's), a timeout DEADLINE_EXCEEDED, the agent's A2A errors
  the gRPC code A2A gives them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import grpc
import httpx
from a2a.client import Client, ClientCallContext
from a2a.client.errors import A2AClientError, A2AClientTimeoutError
from a2a.types import a2a_pb2 as a2a
from a2a.utils.errors import A2A_ERROR_MAPPING, A2AError, TaskNotFoundError, UnsupportedOperationError

from agentmesh.errors import echo
from agentmesh.v1 import agent_service_pb2 as agent_pb
from agentmesh.v1 import run_pb2
from agentmesh_gateway.remote import convert
from agentmesh_gateway.remote.convert import SETTLED_STATES, state_name

log = logging.getLogger("agentmesh.gateway.remote")

#: GetTask polling of a task followed without streaming: from POLL_MIN, doubling to POLL_MAX.
POLL_MIN, POLL_MAX = 0.1, 2.0
#: ListTasks pages read when looking for the task a message started.
FIND_PAGES = 10

OnChunk = Callable[[str], Awaitable[None]]


class TaskHolder(Protocol):
    """The agent a call's task lives at, as far as the call needs it."""

    name: str

    async def cancel_task(self, task_id: str) -> None: ...


class RemoteFailure(Exception):
    """A call to a remote agent failed; `code` says whether it is worth retrying."""

    def __init__(self, code: grpc.StatusCode, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason


@dataclass
class TaskLedger:
    """What the run knows of the remote task of one invocation, and how to record more of it."""

    #: The attempt's idempotency key (with the turn): the id of the message this call sends.
    key: str
    #: The run's id: the context of every task the run starts.
    context_id: str
    attempt: int
    #: Answers in the conversation so far: a call with n > 0 delivers the n-th answer.
    turn: int
    #: The task as last recorded for the invocation, by any attempt.
    known: run_pb2.StepRemoteTask | None
    #: Whether this attempt was started before (by a gateway that stopped during it).
    resumed: bool
    #: Durably records that the attempt holds `task_id`, which has received `turn` answers.
    record: Callable[[str, int], Awaitable[None]]


class Exchange:
    """One call: which task it attaches to (or starts), its events, its outcome."""

    def __init__(
        self,
        agent: TaskHolder,
        client: Client,
        streaming: bool,
        request: agent_pb.InvokeRequest,
        ledger: TaskLedger,
        context: ClientCallContext,
        on_chunk: OnChunk | None,
    ) -> None:
        self.agent, self.client, self.streaming = agent, client, streaming
        self.request, self.ledger, self.context = request, ledger, context
        self.on_chunk = on_chunk
        #: The task this call attached to or started, once known.
        self.task_id = ""
        known = ledger.known
        self._recorded = (known.task_id, known.attempt, known.turn) if known is not None else None

    async def run(self) -> agent_pb.InvokeResponse:
        ledger, known = self.ledger, self.ledger.known
        if known is not None and known.task_id:
            task = await self._get(known.task_id)
            retry = known.attempt != ledger.attempt
            if task is None:
                pass  # the agent no longer knows it: start again
            elif retry and task.status.state in _FAILED_STATES:
                pass  # a new attempt after that task failed: a new task
            elif ledger.turn > known.turn and not _received(task, ledger.key):
                if task.status.state == a2a.TASK_STATE_INPUT_REQUIRED:
                    self.task_id = task.id
                    return await self._send(self._answer(task.id))
                await self._attach(task)  # it went on without the answer: follow it
                return await self._follow(task)
            else:
                await self._attach(task)
                return await self._follow(task)
        elif ledger.resumed and ledger.turn == 0:
            # The message may have gone out with no record of its task (the gateway stopped in between).
            task = await self._find(ledger.key)
            if task is not None:
                await self._attach(task)
                return await self._follow(task)
        return await self._send(self._first())

    def _first(self) -> a2a.Message:
        request = self.request
        first = request.history[0] if request.history else request.message
        return convert.outgoing(
            first, message_id=self.ledger.key, context_id=self.ledger.context_id, skill=request.skill
        )

    def _answer(self, task_id: str) -> a2a.Message:
        return convert.outgoing(
            self.request.message,
            message_id=self.ledger.key,
            context_id=self.ledger.context_id,
            task_id=task_id,
        )

    async def _attach(self, task: a2a.Task) -> None:
        self.task_id = task.id
        await self._record(task.id)

    async def _record(self, task_id: str) -> None:
        """Record (durably) that this attempt holds the task, with the turns it has received."""
        entry = (task_id, self.ledger.attempt, self.ledger.turn)
        if self._recorded != entry:
            await self.ledger.record(task_id, self.ledger.turn)
            self._recorded = entry

    async def _send(self, message: a2a.Message) -> agent_pb.InvokeResponse:
        request = a2a.SendMessageRequest(message=message)
        if not self.streaming:
            request.configuration.return_immediately = True  # then GetTask: the task id comes first
        outcome = await self._events(self.client.send_message(request, context=self.context), None)
        if isinstance(outcome, agent_pb.InvokeResponse):
            return outcome
        return await self._follow(outcome)

    async def _follow(self, task: a2a.Task) -> agent_pb.InvokeResponse:
        """Wait for the task to settle (subscribed to it if the agent streams, else polling), then
        its outcome."""
        fetched = False
        pause = POLL_MIN
        while task.status.state not in SETTLED_STATES:
            if self.streaming:
                subscription = self.client.subscribe(
                    a2a.SubscribeToTaskRequest(id=task.id), context=self.context
                )
                try:
                    outcome = await self._events(subscription, task)
                except UnsupportedOperationError:
                    outcome = task  # it ended meanwhile: GetTask says how
                if isinstance(outcome, agent_pb.InvokeResponse):
                    return outcome
                task, fetched = outcome, False
                if task.status.state in SETTLED_STATES:
                    break
            # Polling; or the subscription ended before the task settled (read it, then again).
            await asyncio.sleep(pause)
            pause = min(pause * 2, POLL_MAX)
            current = await self._get(task.id)
            if current is None:
                raise RemoteFailure(
                    grpc.StatusCode.UNAVAILABLE,
                    f"the A2A agent {self.agent.name!r} lost task {task.id}",
                    reason="REMOTE_TASK_LOST",
                )
            if not self.streaming:
                await self._chunk_status(task, current)
            task, fetched = current, True
        return await self._settle(task, fetched)

    async def _events(
        self, stream: AsyncIterator[a2a.StreamResponse], task: a2a.Task | None
    ) -> a2a.Task | agent_pb.InvokeResponse:
        """Read a stream of the task's events until it settles or the stream ends: the task as
        they leave it, or the agent's direct reply."""
        snapshot = a2a.Task()
        if task is not None:
            snapshot.CopyFrom(task)
        try:
            return await self._read(stream, snapshot)
        finally:
            # Left before its end (the task settled): the call or connection goes now, not when
            # the generator is collected.
            close = getattr(stream, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()

    async def _read(
        self, stream: AsyncIterator[a2a.StreamResponse], snapshot: a2a.Task
    ) -> a2a.Task | agent_pb.InvokeResponse:
        async for event in stream:
            texts: list[str] = []
            match event.WhichOneof("payload"):
                case "message":
                    return convert.reply(event.message, sender=self.agent.name)
                case "task":
                    snapshot.CopyFrom(event.task)
                case "status_update":
                    update = event.status_update
                    snapshot.id = snapshot.id or update.task_id
                    snapshot.context_id = snapshot.context_id or update.context_id
                    snapshot.status.CopyFrom(update.status)
                    texts.append(convert.text_of(update.status.message.parts))
                case "artifact_update":
                    artifact = event.artifact_update
                    snapshot.id = snapshot.id or artifact.task_id
                    snapshot.context_id = snapshot.context_id or artifact.context_id
                    convert.apply_artifact(snapshot, artifact)
                    texts.append(convert.text_of(artifact.artifact.parts))
            if snapshot.id:
                # Before anything else (once): from here on a stop of the gateway finds the task
                # again, and knows that it has the message.
                self.task_id = snapshot.id
                await self._record(snapshot.id)
            if self.on_chunk is not None:
                for text in texts:
                    if text:
                        await self.on_chunk(text)
            if snapshot.status.state in SETTLED_STATES:
                break
        if not snapshot.id:
            raise RemoteFailure(
                grpc.StatusCode.INTERNAL,
                f"the A2A agent {self.agent.name!r} answered with no task or message",
            )
        return snapshot

    async def _chunk_status(self, before: a2a.Task, after: a2a.Task) -> None:
        """Polling: a new status message's text streams in as it would from events."""
        new = after.status.message.message_id != before.status.message.message_id
        if self.on_chunk is not None and new and (text := convert.text_of(after.status.message.parts)):
            await self.on_chunk(text)

    async def _settle(self, task: a2a.Task, fetched: bool) -> agent_pb.InvokeResponse:
        name, state = self.agent.name, task.status.state
        said = convert.text_of(task.status.message.parts)
        detail = f": {said}" if said else ""
        match state:
            case a2a.TASK_STATE_COMPLETED:
                if not fetched:  # the task as the agent keeps it: every artifact, whole
                    with contextlib.suppress(A2AError):
                        task = await self._get(task.id) or task
                return convert.result(task, sender=name)
            case a2a.TASK_STATE_INPUT_REQUIRED:
                return convert.question(task, sender=name)
            case a2a.TASK_STATE_AUTH_REQUIRED:
                await self.agent.cancel_task(task.id)  # nobody here can give it what it asks
                code, reason = grpc.StatusCode.UNAUTHENTICATED, "REMOTE_AUTH_REQUIRED"
            case a2a.TASK_STATE_FAILED:
                retryable = convert.retryable(task)
                code = grpc.StatusCode.UNAVAILABLE if retryable else grpc.StatusCode.FAILED_PRECONDITION
                reason = "REMOTE_TASK_FAILED"
            case a2a.TASK_STATE_REJECTED:
                code, reason = grpc.StatusCode.FAILED_PRECONDITION, "REMOTE_TASK_REJECTED"
            case a2a.TASK_STATE_CANCELED:
                code, reason = grpc.StatusCode.CANCELLED, "REMOTE_TASK_CANCELED"
            case _:
                code, reason = grpc.StatusCode.INTERNAL, "REMOTE_TASK_STATE"
        message = f"the A2A agent {name!r}'s task {task.id} is {state_name(state)}{detail}"
        raise RemoteFailure(code, message, reason)

    async def _get(self, task_id: str) -> a2a.Task | None:
        try:
            return await self.client.get_task(a2a.GetTaskRequest(id=task_id), context=self.context)
        except TaskNotFoundError:
            return None

    async def _find(self, message_id: str) -> a2a.Task | None:
        """The task of the run's context whose history holds the message, if the agent lists tasks."""
        request = a2a.ListTasksRequest(context_id=self.ledger.context_id)
        try:
            for _ in range(FIND_PAGES):
                page = await self.client.list_tasks(request, context=self.context)
                for task in page.tasks:
                    if _received(task, message_id):
                        return task
                if not page.next_page_token:
                    break
                request.page_token = page.next_page_token
        except A2AError as exc:
            log.info(
                "cannot look for the task of a message sent before a stop; sending it again",
                extra={"agent": self.agent.name, "message_id": message_id, "error": echo(exc, 200)},
            )
        return None


#: How a task ends that a new attempt does not attach to again.
_FAILED_STATES = frozenset(
    {a2a.TASK_STATE_FAILED, a2a.TASK_STATE_CANCELED, a2a.TASK_STATE_REJECTED, a2a.TASK_STATE_AUTH_REQUIRED}
)


def _received(task: a2a.Task, message_id: str) -> bool:
    """Whether the task's history holds the message (it reached the task)."""
    return any(message.message_id == message_id for message in task.history)


def failure_of(exc: A2AError, agent: str) -> RemoteFailure:
    """An a2a-sdk error as a call failure with the gRPC code that says whether to retry."""
    message = f"A2A agent {agent!r}: {echo(exc, 500)}"
    if isinstance(exc, A2AClientTimeoutError):
        return RemoteFailure(grpc.StatusCode.DEADLINE_EXCEEDED, message)
    if isinstance(exc, A2AClientError):
        cause = exc.__cause__
        if isinstance(cause, grpc.aio.AioRpcError):
            return RemoteFailure(cause.code(), message)
        if isinstance(cause, httpx.HTTPStatusError):
            status = cause.response.status_code
            code = {
                401: grpc.StatusCode.UNAUTHENTICATED,
                403: grpc.StatusCode.PERMISSION_DENIED,
                404: grpc.StatusCode.NOT_FOUND,
            }.get(status)
            if code is None:
                retry = status == 429 or status >= 500
                code = grpc.StatusCode.UNAVAILABLE if retry else grpc.StatusCode.FAILED_PRECONDITION
            return RemoteFailure(code, message)
        return RemoteFailure(grpc.StatusCode.UNAVAILABLE, message)  # not reached, or the stream broke
    mapping = A2A_ERROR_MAPPING.get(type(exc))
    if mapping is None:
        return RemoteFailure(grpc.StatusCode.INTERNAL, message)
    return RemoteFailure(grpc.StatusCode[mapping.grpc_status], message, mapping.reason)
