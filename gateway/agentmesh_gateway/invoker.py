"""Invoking an agent for one step or for_each item: its input, its attempts, its output.

An invocation resolves its input's expressions, then makes attempts until one
succeeds or the retry policy gives up. Each attempt is announced by a StepStarted
naming the replica it goes to, carries an idempotency key (run/step/item/attempt),
streams the agent's text as coalesced chunk events, and ends in a StepCompleted
whose output is checked against the limits before it is recorded: a run never
stores what it could not send back.

An invocation of an A2A agent holds a task there (`agentmesh_gateway.remote`): the
task's id is recorded (StepRemoteTask) before the gateway waits on it, so that a
resumed attempt re-attaches to the task rather than sending its message again; the
tasks of invocations left unfinished when the run ends are cancelled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import grpc
from google.protobuf import struct_pb2
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from agentmesh.errors import echo
from agentmesh.messages import DataPart, Message
from agentmesh.v1 import agent_service_pb2 as agent_pb
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_gateway import prometheus, templates
from agentmesh_gateway.agents import AgentDirectory, CallFailure
from agentmesh_gateway.budget import Budget
from agentmesh_gateway.expressions import ExpressionError
from agentmesh_gateway.failures import Parked, StepError, run_error
from agentmesh_gateway.limits import MAX_RUN_OUTPUT_BYTES, MAX_STEP_OUTPUT_BYTES, LimitExceeded, check_value
from agentmesh_gateway.payloads import to_python, to_value
from agentmesh_gateway.pricing import Prices
from agentmesh_gateway.remote.task import TaskLedger
from agentmesh_gateway.retry import RetryPolicy
from agentmesh_gateway.state import RunState
from agentmesh_gateway.store.base import CallRecord
from agentmesh_gateway.tracing import RunTrace

IDEMPOTENCY_KEY = "agentmesh-idempotency-key"
#: Attempts refused with RetryInfo that back off by it before the retry policy decides again.
MAX_THROTTLED_ATTEMPTS = 50
#: The longest RetryInfo delay taken as it is.
MAX_RETRY_INFO_SECONDS = 300.0
#: The principal that started the run, told to every agent it calls (agents that need to know
#: who they work for read it; mTLS makes sure it comes from the gateway).
PRINCIPAL_KEY = "agentmesh-principal"
CHUNK_INTERVAL = 0.05
CHUNK_BYTES = 2048
#: The parts of a reply that are files (StepCompleted.files): text and data are its text and output.
FILE_CONTENTS = frozenset({"raw", "url"})

Record = Callable[..., Awaitable[None]]
RecordNowait = Callable[..., "asyncio.Future[None]"]
CountCall = Callable[[CallRecord], None]


class StepInvoker:
    def __init__(
        self,
        state: RunState,
        record: Record,
        record_nowait: RecordNowait,
        count_call: CountCall,
        agents: AgentDirectory,
        trace: RunTrace,
        prices: Prices,
    ) -> None:
        self.state = state
        self.run_id = state.run.run_id
        self.principal = state.run.principal
        self._record, self._record_nowait = record, record_nowait
        self._count_call = count_call
        self._agents = agents
        self._trace = trace
        self._prices = prices
        self._budget = Budget(state.run)
        # A step's input as plain data, converted once per run; only one holding `${...}` is resolved.
        self._inputs = {step.id: to_python(step.input) for step in state.run.workflow.steps}
        self._templated = {
            sid for sid, data in self._inputs.items() if next(templates.expressions_in(data), None)
        }
        self._agent_of = {step.id: step.agent for step in state.run.workflow.steps}
        state.on_end.append(self._let_go)

    async def invoke(self, step: workflow_pb2.Step, index: int | None, item: Any, total: int) -> None:
        """Run one invocation to completion with retries, its completion recorded in the run's
        state; a recorded completion is never invoked again."""
        invocation = self.state.invocation(step.id, index)
        if invocation.done:
            return
        if invocation.asking is not None:
            raise Parked
        data = self._inputs[step.id]
        if step.id in self._templated:
            try:
                data = templates.resolve(data, self.state.scope(item=item, index=index), "the input")
            except ExpressionError as exc:
                error = run_error(
                    "INVALID_ARGUMENT", f"input: {exc}", reason="EXPRESSION_FAILED", step_id=step.id
                )
                raise StepError(error, 0, index) from None
        policy = RetryPolicy.from_proto(step.retry if step.HasField("retry") else None)
        attempt = invocation.next_attempt()
        throttled = 0  # attempts an overloaded agent refused, saying when to come back

        async def queued(limit: str) -> None:
            waiting = run_pb2.StepQueued(step_id=step.id, attempt=attempt, agent=step.agent, limit=limit)
            if index is not None:
                waiting.item = index
            await self._record(step_queued=waiting)

        while True:
            try:
                async with self._budget.call(step.id, attempt, index), self._agents.slot(step.agent, queued):
                    await self._attempt(step, index, data, attempt, total)
                return
            except CallFailure as failure:
                error = run_error(failure.code.name, failure.message, reason=failure.reason, step_id=step.id)
                # An agent that is out of capacity says when to come back (RetryInfo): that wait
                # replaces the retry policy's, and the refused attempt does not count against it.
                backs_off = (
                    failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED
                    and failure.retry_delay is not None
                    and throttled < MAX_THROTTLED_ATTEMPTS
                )
                if backs_off:
                    throttled += 1
                elif not policy.should_retry(failure.code, attempt - throttled):
                    raise StepError(error, attempt, index) from None
                delay = (
                    min(failure.retry_delay or 0.0, MAX_RETRY_INFO_SECONDS)
                    if backs_off
                    else policy.delay(attempt - throttled)
                )
                retrying = run_pb2.StepRetrying(step_id=step.id, attempt=attempt, error=error)
                retrying.delay.FromTimedelta(timedelta(seconds=delay))
                if index is not None:
                    retrying.item = index
                prometheus.STEP_RETRIES.labels(step.agent).inc()
                await self._record(step_retrying=retrying)
                await asyncio.sleep(delay)
                attempt += 1

    async def _attempt(
        self, step: workflow_pb2.Step, index: int | None, data: dict[str, Any], attempt: int, total: int
    ) -> None:
        deadline = None
        if step.HasField("timeout"):
            deadline = time.monotonic() + step.timeout.ToTimedelta().total_seconds()
        replica = await self._agents.pick(step.agent, deadline)
        invocation = self.state.invocation(step.id, index)
        # Started before (and so in flight when a gateway stopped), unless an answer resumes it.
        resumed = invocation.attempt == attempt and not invocation.turns
        started = run_pb2.StepStarted(
            step_id=step.id, attempt=attempt, items_total=total, address=replica.address
        )
        if index is not None:
            started.item = index
        # A first attempt does not wait for its StepStarted to be durable: the log commits in
        # order, so the start is on disk before the completion, and a first call whose start was
        # lost in a crash goes out again as attempt 1, with the same idempotency key. A retry
        # waits, so that a resumed run re-sends it with its own attempt number and key.
        start_recorded = self._record_nowait(step_started=started)
        # An A2A agent's first attempt waits too: resumed, it then knows that its message may have
        # gone out, and looks for the task it started before sending it again.
        remote = self._agents.is_remote(step.agent)
        if attempt > 1 or remote:
            await start_recorded
        item_label = "-" if index is None else str(index)
        turns = invocation.turns
        # Each turn of a conversation is a call of its own: the key says which (an agent that
        # deduplicates by key must not answer an answer with the question it asked before).
        key = f"{self.run_id}/{step.id}/{item_label}/{attempt}" + (f"-{len(turns)}" if turns else "")
        metadata = [
            (IDEMPOTENCY_KEY, key),
            ("agentmesh-run-id", self.run_id),
            ("agentmesh-step-id", step.id),
        ]
        if self.principal:
            metadata.append((PRINCIPAL_KEY, self.principal))
        first = Message.request(
            data, sender="gateway", receiver=step.agent, context_id=self.run_id
        ).to_proto()
        first.message_id = (
            f"{self.run_id}/{step.id}/{item_label}"  # the same on every call of the conversation
        )
        request = agent_pb.InvokeRequest(message=first, skill=step.skill)
        if turns:
            conversation = [first, *(message for turn in turns for message in turn)]
            request.message.CopyFrom(conversation[-1])  # the last answer
            request.history.extend(conversation[:-1])
        chunks = _Chunks(step.id, index, self._record)
        ledger = None
        if remote:

            async def remote_task(task_id: str, turn: int) -> None:
                held = run_pb2.StepRemoteTask(step_id=step.id, attempt=attempt, task_id=task_id, turn=turn)
                if index is not None:
                    held.item = index
                await self._record(step_remote_task=held)

            ledger = TaskLedger(
                key=key,
                context_id=self.run_id,
                attempt=attempt,
                turn=len(turns),
                known=invocation.remote,
                resumed=resumed,
                record=remote_task,
            )
        begun = time.monotonic()
        with self._trace.attempt(step.id, step.agent) as trace_metadata:
            metadata += trace_metadata
            try:
                response = await self._agents.call(
                    replica, request, deadline=deadline, metadata=metadata, on_chunk=chunks.add, ledger=ledger
                )
            except CallFailure:
                self._count(step.agent, ok=False, begun=begun)
                raise
            finally:
                await start_recorded
            usage = response.usage
            tokens = usage.total_tokens or usage.input_tokens + usage.output_tokens
            self._count(step.agent, ok=True, begun=begun, tokens=tokens)
            await chunks.flush()
        if response.HasField("input_required"):
            await self._asked(step, index, attempt, len(turns), response)
            raise Parked
        reply = Message.from_proto(response.message)
        output: Any = reply.data if any(isinstance(p, DataPart) for p in reply.parts) else None
        completed = run_pb2.StepCompleted(
            step_id=step.id,
            attempt=attempt,
            text=reply.text,
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            direct=response.direct,
        )
        completed.duration.FromTimedelta(timedelta(seconds=time.monotonic() - begun))
        if index is not None:
            completed.item = index
        completed.models.extend(self._prices.of_reply(response))
        # The reply's files, as they came (bytes are not decoded and re-encoded): bounded with its
        # output and text by check_completion, which measures the whole completion.
        completed.files.extend(p for p in response.message.parts if p.WhichOneof("content") in FILE_CONTENTS)
        check_completion(self.state, completed, output)
        await self._record(output, step_completed=completed)
        for spent in completed.models:
            prometheus.RUN_TOKENS.labels(spent.model, "input").inc(spent.input_tokens)
            prometheus.RUN_TOKENS.labels(spent.model, "output").inc(spent.output_tokens)
            prometheus.RUN_COST.labels(spent.model).inc(spent.cost)

    async def _asked(
        self,
        step: workflow_pb2.Step,
        index: int | None,
        attempt: int,
        turn: int,
        response: agent_pb.InvokeResponse,
    ) -> None:
        """Record the agent's question; StepError if it could not be kept or answered."""
        request = run_pb2.InputRequest(step_id=step.id, attempt=attempt, turn=turn, question=response.message)
        if index is not None:
            request.item = index
        schema = response.input_required
        problem = ""
        if schema.HasField("answer_schema"):
            request.answer_schema.CopyFrom(schema.answer_schema)
            problem = answer_schema_problem(to_python(schema.answer_schema))
        if request.ByteSize() > MAX_STEP_OUTPUT_BYTES:
            problem = f"the question is larger than {MAX_STEP_OUTPUT_BYTES:,} bytes"
        if problem:
            message = f"step {echo(step.id)}'s agent asked a question that cannot be answered: {problem}"
            error = run_error("FAILED_PRECONDITION", message, reason="BAD_QUESTION", step_id=step.id)
            raise StepError(error, attempt, index)
        await self._record(step_input_required=run_pb2.StepInputRequired(request=request))

    def _let_go(self) -> None:
        """The run ended: the remote tasks its unfinished invocations hold are cancelled (a run
        cancelled, failed or timed out waits on none of them any more)."""
        for (step_id, _), invocation in self.state.invocations.items():
            if invocation.remote is not None and not invocation.done:
                self._agents.release(self._agent_of[step_id], invocation.remote.task_id)

    def _count(self, agent: str, *, ok: bool, begun: float, tokens: int = 0) -> None:
        seconds = time.monotonic() - begun
        self._count_call(CallRecord(self.run_id, agent, ok, seconds * 1000, tokens))
        prometheus.STEP_DURATION.labels(agent, "ok" if ok else "error").observe(seconds)


def check_completion(
    state: RunState, completed: run_pb2.StepCompleted, output: Any, encoded: struct_pb2.Value | None = None
) -> None:
    """Set the completion's output, or StepError if it would break a limit.

    One invocation's output, text and files may not exceed MAX_STEP_OUTPUT_BYTES, nor may a
    for_each step's items together; all that a run keeps may not exceed MAX_RUN_OUTPUT_BYTES.
    `encoded`: the output as a Value already (a for_each join of items each checked).
    """
    item = completed.item if completed.HasField("item") else None
    where = f"step {echo(completed.step_id)}" + ("" if item is None else f" (item {item})")
    try:
        if encoded is None:
            check_value(output, f"the output of {where}", MAX_STEP_OUTPUT_BYTES)
            encoded = to_value(output)
        completed.output.CopyFrom(encoded)
        size = completed.ByteSize()
        if size > MAX_STEP_OUTPUT_BYTES:
            raise LimitExceeded(
                f"the output, text and files of {where} are larger than {MAX_STEP_OUTPUT_BYTES:,} bytes"
            )
        if item is not None and state.item_bytes.get(completed.step_id, 0) + size > MAX_STEP_OUTPUT_BYTES:
            raise LimitExceeded(
                f"the outputs of {where}'s items together are larger than {MAX_STEP_OUTPUT_BYTES:,} bytes"
            )
    except LimitExceeded as exc:
        error = run_error(
            "RESOURCE_EXHAUSTED", str(exc), reason="OUTPUT_TOO_LARGE", step_id=completed.step_id
        )
        raise StepError(error, completed.attempt, item) from None
    if item is None and state.kept_bytes + size > MAX_RUN_OUTPUT_BYTES:
        message = f"{where}'s output would take the run's outputs past {MAX_RUN_OUTPUT_BYTES:,} bytes"
        error = run_error("RESOURCE_EXHAUSTED", message, reason="RUN_TOO_LARGE", step_id=completed.step_id)
        raise StepError(error, completed.attempt, item)


class _Chunks:
    """Streamed text, coalesced into StepOutputChunk events."""

    def __init__(self, step_id: str, index: int | None, record: Record) -> None:
        self._step_id, self._index, self._record = step_id, index, record
        self._pending: list[str] = []
        self._last_flush = time.monotonic()

    async def add(self, text: str) -> None:
        # Token-sized pieces are coalesced so that a streamed report is a few events, not
        # hundreds, while a watcher still sees text within CHUNK_INTERVAL of its arrival.
        self._pending.append(text)
        if (
            time.monotonic() - self._last_flush >= CHUNK_INTERVAL
            or sum(map(len, self._pending)) >= CHUNK_BYTES
        ):
            await self.flush()

    async def flush(self) -> None:
        if self._pending:
            chunk = run_pb2.StepOutputChunk(step_id=self._step_id, text="".join(self._pending))
            if self._index is not None:
                chunk.item = self._index
            self._pending.clear()
            self._last_flush = time.monotonic()
            await self._record(step_output_chunk=chunk)


def answer_schema_problem(schema: dict[str, Any]) -> str:
    """What makes a question's answer schema unusable, or an empty string."""
    try:
        check_value(schema, "the answer schema", MAX_STEP_OUTPUT_BYTES)
        Draft202012Validator.check_schema(schema)
    except (LimitExceeded, SchemaError) as exc:
        return echo(exc, 300)
    return ""
