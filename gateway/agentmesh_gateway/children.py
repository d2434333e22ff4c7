"""Sub-workflow steps: a step (or each for_each item) that runs another workflow as a child run.

The child is started with a request id made of the parent's run, step and item, so a parent
resumed after a crash between starting its child and recording it (StepChildStarted) finds the
same child instead of starting a second. The step waits for the child's end and takes its
outputs; a child that fails or is cancelled fails the step. When the parent ends (cancelled,
failed, timed out), the children it still waits on are cancelled; a gateway that merely stops
executing the parent leaves them running for whoever resumes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

from agentmesh.errors import AgentMeshError, ResourceExhausted, echo
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_gateway import templates
from agentmesh_gateway.expressions import ExpressionError
from agentmesh_gateway.failures import StepError, run_error
from agentmesh_gateway.invoker import check_completion
from agentmesh_gateway.payloads import to_python
from agentmesh_gateway.run_request import RunRequest
from agentmesh_gateway.state import RunState
from agentmesh_gateway.step_kinds import MAX_DEPTH

log = logging.getLogger("agentmesh.gateway.children")

Record = Callable[..., Awaitable[None]]
#: A child refused for capacity (the gateway runs as many runs as it may) is started again after
#: a pause that doubles from START_RETRY_MIN to START_RETRY_MAX, for as long as the step may take.
START_RETRY_MIN, START_RETRY_MAX = 0.5, 10.0


class ChildRuns(Protocol):
    """What the engine does for sub-workflow steps."""

    async def resolve_workflow(self, name: str) -> workflow_pb2.Workflow: ...

    async def start_run(self, request: RunRequest) -> run_pb2.Run:
        """Start the run (or find the one its request id started already)."""
        ...

    async def outcome(self, run_id: str) -> run_pb2.Run:
        """Wait for the run to end; the ended run."""
        ...

    async def cancel_run(self, run_id: str, reason: str, owner: str | None = None) -> run_pb2.Run: ...


class Children:
    def __init__(self, state: RunState, record: Record, runs: ChildRuns) -> None:
        self.state = state
        self._record = record
        self._runs = runs
        self._inputs = {step.id: to_python(step.input) for step in state.run.workflow.steps}
        self._background: set[asyncio.Task[None]] = set()
        state.on_end.append(self._cancel_unfinished)

    async def invoke(self, step: workflow_pb2.Step, index: int | None, item: Any, total: int) -> None:
        """Run the step's (or item's) child to its end and record the step's completion."""
        invocation = self.state.invocation(step.id, index)
        if invocation.done:
            return
        limit = step.timeout.ToTimedelta().total_seconds() if step.HasField("timeout") else None
        try:
            async with asyncio.timeout(limit):
                child_id = invocation.child or await self._start(step, index, item)
                ended = await self._runs.outcome(child_id)
        except TimeoutError:
            if invocation.child:
                await self._runs.cancel_run(
                    invocation.child, f"step {step.id} of run {self.state.run.run_id} timed out"
                )
            message = f"the child run of step {step.id!r} did not end within {limit:g}s"
            raise StepError(
                run_error("DEADLINE_EXCEEDED", message, reason="CHILD_TIMED_OUT", step_id=step.id), 1, index
            ) from None
        await self._finish(step, index, ended)

    async def _start(self, step: workflow_pb2.Step, index: int | None, item: Any) -> str:
        run = self.state.run
        if run.depth + 1 > MAX_DEPTH:
            message = f"sub-workflows nest at most {MAX_DEPTH} deep; step {step.id!r} would start one deeper"
            raise StepError(
                run_error("FAILED_PRECONDITION", message, reason="DEPTH_EXCEEDED", step_id=step.id), 1, index
            )
        inputs = self._inputs[step.id]
        try:
            inputs = templates.resolve(inputs, self.state.scope(item=item, index=index), "the input")
        except ExpressionError as exc:
            error = run_error(
                "INVALID_ARGUMENT", f"input: {exc}", reason="EXPRESSION_FAILED", step_id=step.id
            )
            raise StepError(error, 0, index) from None
        parent = run_pb2.ParentRun(run_id=run.run_id, step_id=step.id)
        if index is not None:
            parent.item = index
        child = await self._start_when_room(step, index, inputs, parent)
        started = run_pb2.StepChildStarted(
            step_id=step.id,
            child_run_id=child.run_id,
            workflow_name=child.workflow.name,
            workflow_version=child.workflow.version,
        )
        if index is not None:
            started.item = index
        await self._record(step_child_started=started)
        return child.run_id

    async def _start_when_room(
        self, step: workflow_pb2.Step, index: int | None, inputs: dict[str, Any], parent: run_pb2.ParentRun
    ) -> run_pb2.Run:
        run = self.state.run
        item_label = "-" if index is None else str(index)
        pause = START_RETRY_MIN
        while True:
            try:
                # The parent's caller starts the child: its principal, context and trace go on.
                request = RunRequest(
                    workflow=await self._runs.resolve_workflow(step.workflow),
                    inputs=inputs,
                    context=run.context,
                    request_id=f"child:{run.run_id}/{step.id}/{item_label}",
                    principal=run.principal,
                    traceparent=run.traceparent,
                    parent=parent,
                    depth=run.depth + 1,
                )
                return await self._runs.start_run(request)
            except ResourceExhausted:
                await asyncio.sleep(pause)  # runs end and make room; the step's timeout bounds this
                pause = min(pause * 2, START_RETRY_MAX)
            except AgentMeshError as exc:  # an invalid input, a workflow gone
                error = run_error(
                    exc.code.name,
                    f"cannot start the child run: {exc.message}",
                    reason=exc.reason or "CHILD_NOT_STARTED",
                    step_id=step.id,
                )
                raise StepError(error, 1, index) from None

    async def _finish(self, step: workflow_pb2.Step, index: int | None, ended: run_pb2.Run) -> None:
        if ended.state == run_pb2.RUN_STATE_SUCCEEDED:
            output = to_python(ended.outputs)
            completed = run_pb2.StepCompleted(step_id=step.id, attempt=1)
            completed.duration.FromTimedelta(
                timedelta(
                    seconds=max(
                        0.0, (ended.end_time.ToNanoseconds() - ended.start_time.ToNanoseconds()) / 1e9
                    )
                )
            )
            completed.input_tokens = ended.usage.input_tokens
            completed.output_tokens = ended.usage.output_tokens
            completed.models.extend(ended.usage.models)  # the parent's usage (and budget) includes it
            if index is not None:
                completed.item = index
            check_completion(self.state, completed, output)
            await self._record(output, step_completed=completed)
            return
        if ended.state == run_pb2.RUN_STATE_FAILED:
            cause = ended.error
            message = f"child run {ended.run_id} failed: {cause.message}"
            error = run_error(cause.code or "UNKNOWN", message, reason="CHILD_FAILED", step_id=step.id)
        else:
            error = run_error(
                "CANCELLED",
                f"child run {ended.run_id} was cancelled",
                reason="CHILD_CANCELLED",
                step_id=step.id,
            )
        raise StepError(error, 1, index)

    def _cancel_unfinished(self) -> None:
        """The parent ended: cancel the children it still waited on."""
        reason = f"its parent run {self.state.run.run_id} ended"
        for invocation in self.state.invocations.values():
            if invocation.child and not invocation.done:
                task = asyncio.get_running_loop().create_task(self._cancel(invocation.child, reason))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def _cancel(self, run_id: str, reason: str) -> None:
        try:
            await self._runs.cancel_run(run_id, reason)
        except Exception as exc:  # a store that is gone: the child goes on, and says so when it ends
            log.warning("cannot cancel a child run", extra={"run_id": run_id, "error": echo(exc, 300)})
