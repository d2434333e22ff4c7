"""A2A's request handler over the engine: a task is a run, and the runs are the task store.

a2a-sdk's transports (its gRPC servicer, JSON-RPC and HTTP+JSON routes) call this one handler,
which starts runs, answers their questions (a message to a task waiting for input), follows,
gets, lists and cancels them through the engine's API, with the caller's principal and tenant
isolation as every other surface of the gateway. Errors leave as A2A's (see `a2a.errors`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from a2a.server.context import ServerCallContext
from a2a.server.events.event_queue import Event
from a2a.server.request_handlers.request_handler import RequestHandler
from a2a.types import a2a_pb2 as a2a
from a2a.utils.errors import (
    ExtendedAgentCardNotConfiguredError,
    PushNotificationNotSupportedError,
    TaskNotCancelableError,
    UnsupportedOperationError,
)

from agentmesh.errors import InvalidInput
from agentmesh.v1 import run_pb2
from agentmesh_gateway.a2a import convert, direct
from agentmesh_gateway.a2a.cards import Cards
from agentmesh_gateway.a2a.errors import a2a_errors
from agentmesh_gateway.a2a.targets import Target, agent_workflow, text_input
from agentmesh_gateway.a2a.updates import updates_of
from agentmesh_gateway.auth import caller_name, visible_owner
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.run_request import RunRequest
from agentmesh_gateway.store.base import encode_page_token

#: ListTasks: the most runs looked at to fill one page (runs of other targets are passed over).
LIST_SCAN_RUNS = 2000
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 100
REQUEST_ID_PREFIX = "a2a:"


class MeshRequestHandler(RequestHandler):
    def __init__(self, engine: Engine, cards: Cards, *, tenant_isolation: bool = False) -> None:
        self._engine = engine
        self._cards = cards
        self._isolated = tenant_isolation

    # --- sending messages --------------------------------------------------------------------

    async def on_message_send(
        self, params: a2a.SendMessageRequest, context: ServerCallContext
    ) -> a2a.Task | a2a.Message:
        async with a2a_errors(params):
            run, after = await self._send(context, params.message)
            target = Target.of_run(run)
            if params.configuration.return_immediately:
                # Answered before the agent has replied, so with the task even if its reply turns
                # out to be direct: the reply is then the task's artifact, as GetTask shows it.
                return await self._task(target, run, params.configuration)
            status = None
            replies = not params.message.task_id
            updates = self._updates(target, run.run_id, after, stamp=False, replies=replies)
            async with aclosing(updates):  # left at a direct reply: its watch goes now
                async for update in updates:
                    if isinstance(update, a2a.Message):
                        return update
                    if isinstance(update, a2a.TaskStatusUpdateEvent):
                        status = update.status
            task = await self._task(target, await self._engine.get_run(run.run_id), params.configuration)
            if status is not None:  # the stored run may lag its events by a snapshot's pacing
                task.status.CopyFrom(status)
            return task

    async def on_message_send_stream(
        self, params: a2a.SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        async with a2a_errors(params):
            run, after = await self._send(context, params.message)
            target = Target.of_run(run)
            stamp = convert.RESUME_EXTENSION in context.requested_extensions
            task = await self._task(target, run, params.configuration, after if stamp else None)
            replies = not params.message.task_id and direct.may_reply_directly(self._engine.agents(), run)
            # A stream is a single Message or a Task and its updates: while the reply may yet be
            # direct, the task and what happens to it are held back (see `direct`).
            held: list[direct.Update] | None = [] if replies else None
            if held is None:
                yield task
            updates = self._updates(target, run.run_id, after, stamp=stamp, replies=replies)
            async with aclosing(updates):
                async for update in updates:
                    if isinstance(update, a2a.Message):
                        if held is not None:  # nothing said yet: the answer is this Message
                            yield update
                            return
                        continue  # the task is out already: it completes as a task does
                    if held is None:
                        yield update
                        continue
                    held.append(update)
                    if direct.shows_task(update):
                        yield task
                        for earlier in held:
                            yield earlier
                        held = None
            if held is not None:  # the run ended, or waits for input, without a direct reply
                yield task
                for earlier in held:
                    yield earlier

    async def _send(self, context: ServerCallContext, message: a2a.Message) -> tuple[run_pb2.Run, int]:
        """Start a run for the message, or answer the question its task waits on; the run, and the
        sequence its events are to be followed after."""
        if message.task_id:
            return await self._answer(message)
        target = self._addressed(context, message)
        data, text = convert.message_data(message)
        if target.kind == "workflows":
            workflow = self._engine.workflow(target.name)
            name = text_input(workflow)
            if text and name is not None and name not in data:
                data[name] = text
        else:
            if text and "text" not in data:
                data["text"] = text
            skill = (
                message.metadata.fields["skill"].string_value if "skill" in message.metadata.fields else ""
            )
            workflow = agent_workflow(target, skill, data)
        request = RunRequest(
            workflow=workflow,
            inputs=data,
            context=run_pb2.RunContext(session_id=message.context_id or uuid.uuid4().hex),
            # A message re-sent (a retry) finds the task it made.
            request_id=REQUEST_ID_PREFIX + message.message_id if message.message_id else "",
            principal=caller_name(),
        )
        run = await self._engine.start_run(request)
        return run, 1  # the task snapshot stands for the run's start

    async def _answer(self, message: a2a.Message) -> tuple[run_pb2.Run, int]:
        """A message to an existing task: the answer to the question it waits on. Its caller holds
        the task, and is answered with it even if the agent's last reply is direct."""
        owner = self._owner()
        run = await self._engine.get_run(message.task_id, owner)
        if convert.TASK_STATES.get(run.state) in convert.TERMINAL:
            raise UnsupportedOperationError(f"task {message.task_id} has ended; start a new one")
        asking = [request for step in run.steps for request in step.pending_input]
        wanted = message.metadata.fields["step"].string_value if "step" in message.metadata.fields else ""
        asking = [request for request in asking if not wanted or request.step_id == wanted]
        if not asking:
            raise UnsupportedOperationError(f"task {message.task_id} is not waiting for input")
        if len(asking) > 1:
            steps = ", ".join(sorted({r.step_id for r in asking}))
            raise UnsupportedOperationError(
                f"several steps wait for input ({steps}): name one in metadata.step"
            )
        request = asking[0]
        item = request.item if request.HasField("item") else None
        answer = convert.to_agent_message(message)
        answered = await self._engine.provide_input(
            run.run_id, request.step_id, item, answer, caller_name(), owner
        )
        return answered, run.last_sequence

    # --- following --------------------------------------------------------------------------

    async def _updates(
        self, target: Target, run_id: str, after: int, *, stamp: bool, replies: bool = False
    ) -> AsyncGenerator[direct.Update | a2a.Message]:
        """The run's events after `after` as A2A updates, until it ends or waits for input. With
        `replies`, a run that succeeded with a direct reply offers that reply as a Message before
        its completion's updates, for a caller that has not answered with the task yet."""
        context_id = ""
        reply: run_pb2.StepCompleted | None = None
        async for record in self._engine.watch(run_id, after, self._owner()):
            event = record.event()
            kind = event.WhichOneof("event")
            metadata = convert.sequence_metadata(event.sequence) if stamp else None
            if not context_id:
                context_id = (await self._engine.get_run(run_id, self._owner())).context.session_id
            reply = (direct.reply_of(target, event) if replies else None) or reply
            if kind == "run_completed" and reply is not None:
                answer = direct.message(run_id, context_id, reply)
                if metadata is not None:
                    answer.metadata.CopyFrom(metadata)
                yield answer
            for item in updates_of(target, run_id, context_id, event, kind):
                if metadata is not None:
                    item.metadata.CopyFrom(metadata)
                yield item
            if kind in ("step_input_required", "run_completed", "run_failed", "run_cancelled"):
                return

    async def on_subscribe_to_task(
        self, params: a2a.SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        async with a2a_errors(params):
            run = await self._engine.get_run(params.id, self._owner())
            target = Target.of_run(run)
            stamp = convert.RESUME_EXTENSION in context.requested_extensions
            resume = _resume_after(context) if stamp else None
            # Resuming replays what was missed from the log, gap-free, even of a task that has
            # ended since; without a cursor, an ended task has nothing to follow (the spec's rule).
            if resume is None and convert.TASK_STATES.get(run.state) in convert.TERMINAL:
                raise UnsupportedOperationError(f"task {params.id} has ended: there is nothing to follow")
            after = run.last_sequence if resume is None else min(resume, run.last_sequence)
            yield await self._task(target, run, None, after if stamp else None)
            async for update in self._updates(target, run.run_id, after, stamp=stamp):
                yield update

    # --- reading, cancelling ----------------------------------------------------------------

    async def on_get_task(self, params: a2a.GetTaskRequest, context: ServerCallContext) -> a2a.Task | None:
        async with a2a_errors(params):
            run = await self._engine.get_run(params.id, self._owner())
            target = Target.of_run(run)
            length = params.history_length if params.HasField("history_length") else None
            return await self._task(target, run, None, history_length=length)

    async def on_list_tasks(
        self, params: a2a.ListTasksRequest, context: ServerCallContext
    ) -> a2a.ListTasksResponse:
        async with a2a_errors(params):
            target = self._target(context)  # None at the mesh's own card: every task
            size = min(params.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
            state = convert.RUN_STATES.get(params.status, 0) if params.status else 0
            found: list[run_pb2.Run] = []
            token, scanned, more = params.page_token, 0, True
            while more and len(found) < size and scanned < LIST_SCAN_RUNS:
                page = await self._engine.list_runs(state, min(size, 100), token, self._owner())
                for run in page.runs:
                    scanned += 1
                    if (target is None or run.workflow.name == target.workflow_name) and (
                        not params.context_id or run.context.session_id == params.context_id
                    ):
                        found.append(run)
                        if len(found) == size:
                            break
                token, more = page.next_page_token, bool(page.next_page_token)
            next_token = ""
            if len(found) == size or (more and scanned >= LIST_SCAN_RUNS):
                last = found[-1] if found else None
                next_token = (
                    encode_page_token(last.create_time.ToNanoseconds(), last.run_id) if last else token
                )
            length = params.history_length if params.HasField("history_length") else 0
            tasks = [
                convert.task(
                    run, Target.of_run(run).step_id, [convert.first_message(run, _message_id(run))], length
                )
                for run in found
            ]
            if not params.include_artifacts:
                for task in tasks:
                    del task.artifacts[:]
            return a2a.ListTasksResponse(
                tasks=tasks, next_page_token=next_token, page_size=size, total_size=len(tasks)
            )

    async def on_cancel_task(
        self, params: a2a.CancelTaskRequest, context: ServerCallContext
    ) -> a2a.Task | None:
        async with a2a_errors(params):
            owner = self._owner()
            run = await self._engine.get_run(params.id, owner)
            target = Target.of_run(run)
            if convert.TASK_STATES.get(run.state) in convert.TERMINAL:
                raise TaskNotCancelableError(f"task {params.id} has ended")
            cancelled = await self._engine.cancel_run(params.id, "cancelled by an A2A client", owner)
            return await self._task(target, cancelled, None)

    async def on_get_extended_agent_card(
        self, params: a2a.GetExtendedAgentCardRequest, context: ServerCallContext
    ) -> a2a.AgentCard:
        raise ExtendedAgentCardNotConfiguredError

    # --- push notifications: not offered (the card says so) ------------------------------------

    async def on_create_task_push_notification_config(
        self, params: a2a.TaskPushNotificationConfig, context: ServerCallContext
    ) -> a2a.TaskPushNotificationConfig:
        raise PushNotificationNotSupportedError

    async def on_get_task_push_notification_config(
        self, params: a2a.GetTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> a2a.TaskPushNotificationConfig:
        raise PushNotificationNotSupportedError

    async def on_list_task_push_notification_configs(
        self, params: a2a.ListTaskPushNotificationConfigsRequest, context: ServerCallContext
    ) -> a2a.ListTaskPushNotificationConfigsResponse:
        raise PushNotificationNotSupportedError

    async def on_delete_task_push_notification_config(
        self, params: a2a.DeleteTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> None:
        raise PushNotificationNotSupportedError

    # --- helpers ------------------------------------------------------------------------------

    def _owner(self) -> str | None:
        return visible_owner(self._isolated)

    def _target(self, context: ServerCallContext) -> Target | None:
        """The agent addressed, by URL (HTTP) or tenant (gRPC); None: the mesh's own endpoint."""
        found = context.state.get("agentmesh.target")
        if isinstance(found, Target):
            target: Target | None = found
        else:
            target = Target.of_tenant(context.tenant) if context.tenant else None
        if target is not None:
            self._cards.check(target)
        return target

    def _addressed(self, context: ServerCallContext, message: a2a.Message) -> Target:
        """The agent a new message is for; at the mesh's own endpoint, the one its `agent`
        metadata names (`workflows/NAME`, `agents/NAME`)."""
        target = self._target(context)
        if target is not None:
            return target
        fields = message.metadata.fields
        named = fields["agent"].string_value if "agent" in fields else ""
        if not named:
            raise InvalidInput.field(
                "message.metadata.agent", "name the agent the mesh is to reach: workflows/NAME or agents/NAME"
            )
        target = Target.of_tenant(named)
        self._cards.check(target)
        return target

    async def _task(
        self,
        target: Target,
        run: run_pb2.Run,
        configuration: a2a.SendMessageConfiguration | None,
        sequence: int | None = None,
        history_length: int | None = None,
    ) -> a2a.Task:
        if configuration is not None and configuration.HasField("history_length"):
            history_length = configuration.history_length
        events = await self._engine.history(run.run_id, self._owner()) if history_length != 0 else []
        messages = convert.history(run, convert.first_message(run, _message_id(run)), events)
        extra: dict[str, Any] = {} if sequence is None else {"sequence": sequence}
        return convert.task(run, target.step_id, messages, history_length, extra)


def _message_id(run: run_pb2.Run) -> str:
    """The id of the A2A message that started the run, kept in its request id."""
    return run.request_id.split("\n")[-1].removeprefix(REQUEST_ID_PREFIX) if run.request_id else ""


def _resume_after(context: ServerCallContext) -> int | None:
    headers = context.state.get("headers") or {}
    value: Any = headers.get(convert.RESUME_AFTER_HEADER)
    grpc_context = context.state.get("grpc_context")
    if value is None and grpc_context is not None:
        value = next(
            (v for k, v in grpc_context.invocation_metadata() or () if k == convert.RESUME_AFTER_HEADER), None
        )
    try:
        return max(0, int(value)) if value is not None else None
    except ValueError:
        return None
