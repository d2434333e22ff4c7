"""MCP's tools/list and tools/call over the engine, as the caller the HTTP request authenticated.

Calling a workflow's tool starts a run (a new one each call), follows it and answers with its
outputs and the files its steps made (`mcp.files`); its step events become progress notifications
(progress: steps ended; total: steps) when the client asked for them. A call the client
abandons (`notifications/cancelled`, a closed response stream, its session deleted) cancels the
run; the gateway stopping does not: the run goes on after the restart, as runs do.

Errors: the engine's (bad inputs, no such run, at capacity, a run that failed) are tool errors
(`isError`), which the model reads and can act on, with the error's code, reason and fields in
`_meta` (`agentmesh/error`); an unknown tool and a role that may not call the tool are JSON-RPC
errors, as the call was not made at all.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from contextlib import aclosing, contextmanager
from typing import Any, cast

import anyio
from mcp.server import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
    Tool,
)
from starlette.requests import Request

from agentmesh.errors import AgentMeshError, FieldViolation, InvalidInput, PermissionDenied, echo
from agentmesh.status import cut
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_gateway.auth import (
    MCP_OPERATOR,
    MCP_VIEWER,
    Principal,
    authorize,
    caller_name,
    current_principal,
)
from agentmesh_gateway.auth import visible_owner as _visible_owner
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.mcp import schemas, views
from agentmesh_gateway.mcp.files import RunFiles
from agentmesh_gateway.payloads import to_python
from agentmesh_gateway.run_request import RunRequest
from agentmesh_gateway.store.base import EventRecord

log = logging.getLogger("agentmesh.gateway.mcp")

Context = ServerRequestContext[dict[str, Any]]

#: Where the HTTP endpoint leaves the request's principal in its ASGI scope for the handlers
#: (which may run in the task of the session the request belongs to, not of the request).
PRINCIPAL_SCOPE_KEY = "agentmesh.principal"
#: The JSON-RPC error for a caller whose role may not make the call (in JSON-RPC's band of
#: implementation-defined server errors; MCP has no code of its own for it).
PERMISSION_DENIED = -32003
#: `_meta` keys of a tool's answer.
RUN_ID_META, STATE_META, ERROR_META = "agentmesh/run_id", "agentmesh/state", "agentmesh/error"
#: tools/list: tools per page at most, and about the bytes of one page (at least one tool).
PAGE_TOOLS, MAX_PAGE_BYTES = 100, 1024 * 1024
DEFAULT_RUNS_PAGE = 20
#: Seconds cancelling an abandoned call's run may take.
CANCEL_SECONDS = 10.0
MAX_REASON_BYTES = 512
_ENDS = ("run_completed", "run_failed", "run_cancelled", "run_waiting")


class McpTools:
    def __init__(self, engine: Engine, *, tenant_isolation: bool, authenticated: bool) -> None:
        """`authenticated`: the gateway checks tokens, so every call must come with a principal."""
        self._engine = engine
        self._isolated = tenant_isolation
        self._authenticated = authenticated
        #: Set when the gateway stops: the calls it interrupts leave their runs running.
        self.stopping = False
        self._following: set[anyio.CancelScope] = set()

    # --- tools/list ------------------------------------------------------------------------------

    async def list_tools(self, ctx: Context, params: PaginatedRequestParams | None) -> ListToolsResult:
        with self._caller(ctx) as principal:
            _authorize(principal, MCP_VIEWER, "list tools")
            tools = schemas.all_tools(self._engine.workflows())
            start = _cursor(params.cursor if params is not None else None, len(tools))
            page: list[Tool] = []
            size = 0
            for tool in tools[start : start + PAGE_TOOLS]:
                cost = len(tool.model_dump_json(by_alias=True, exclude_none=True))
                if page and size + cost > MAX_PAGE_BYTES:
                    break
                page.append(tool)
                size += cost
            after = start + len(page)
            return ListToolsResult(tools=page, next_cursor=str(after) if after < len(tools) else None)

    # --- tools/call ------------------------------------------------------------------------------

    async def call_tool(self, ctx: Context, params: CallToolRequestParams) -> CallToolResult:
        with self._caller(ctx) as principal:
            name, arguments = params.name, dict(params.arguments or {})
            try:
                if name in schemas.RUN_TOOLS:
                    operation = MCP_OPERATOR if name == schemas.CANCEL_RUN else MCP_VIEWER
                    _authorize(principal, operation, name)
                    return await self._run_tool(name, arguments)
                workflows = self._engine.workflows()
                workflow_name = schemas.tool_names(workflows).get(name)
                if workflow_name is None:
                    raise MCPError(INVALID_PARAMS, f"no tool named {echo(name)}")
                _authorize(principal, MCP_OPERATOR, name)
                return await self._run_workflow(ctx, workflows[workflow_name], arguments)
            except AgentMeshError as exc:
                return _failed(exc)
            except (MCPError, anyio.get_cancelled_exc_class()):
                raise
            except Exception:
                log.exception("mcp tool failed unexpectedly", extra={"tool": cut(name, 128)})
                raise MCPError(INTERNAL_ERROR, "internal error") from None

    async def _run_workflow(
        self, ctx: Context, workflow: workflow_pb2.Workflow, arguments: dict[str, Any]
    ) -> CallToolResult:
        if self.stopping:
            raise MCPError(INTERNAL_ERROR, "the gateway is stopping")
        request = RunRequest(
            workflow=workflow, inputs=arguments, context=run_pb2.RunContext(), principal=caller_name()
        )
        owner = self._owner()
        # The watcher's place is taken first: a call refused at capacity starts no run.
        events = cast("AsyncGenerator[EventRecord, None]", self._engine.run_and_watch(request))
        following = anyio.CancelScope()  # cancelled when the gateway stops: the call answers then
        self._following.add(following)
        run_id = ""
        end: run_pb2.RunEvent | None = None
        asking: list[run_pb2.InputRequest] = []
        made = RunFiles()
        try:
            async with aclosing(events):
                with following:
                    # Shielded: once the run is stored, the call knows its id, to cancel it if abandoned.
                    with anyio.CancelScope(shield=True):
                        first = await anext(events)
                    run_id = first.run_id
                    try:
                        end, asking = await self._follow(ctx, run_id, events, len(workflow.steps), made)
                    except anyio.get_cancelled_exc_class():
                        if not self.stopping:
                            await self._abandon(run_id, owner)
                        raise
                    except AgentMeshError as exc:
                        result = _failed(exc, run_id)
                        result.content.append(TextContent(text=f"Follow run {run_id} with get_run."))
                        return result
        finally:
            self._following.discard(following)
        if following.cancelled_caught:
            text = (
                f"The gateway is stopping. Run {run_id} is not cancelled: it goes on once a gateway "
                "takes it up again; follow it with get_run."
            )
            return _error_result(text, run_id, "RUNNING")
        return await self._answer(run_id, end, asking, owner, made)

    def stop_following(self) -> None:
        """The gateway stops: every call following a run answers now, leaving the run running."""
        self.stopping = True
        for following in list(self._following):
            following.cancel()

    async def _follow(
        self, ctx: Context, run_id: str, events: AsyncIterator[EventRecord], total: int, made: RunFiles
    ) -> tuple[run_pb2.RunEvent | None, list[run_pb2.InputRequest]]:
        """The event that ends the run (or leaves it waiting for input), and the questions it waits
        on then (from its events: the stored run may lag them); progress on the way, and the
        files its steps made into `made`."""
        await _progress(ctx, 0, total, f"run {run_id} started")
        ended: set[str] = set()
        asking: dict[tuple[str, int | None], run_pb2.InputRequest] = {}
        async for record in events:
            event = record.event()
            kind = event.WhichOneof("event")
            made.see(event, kind)
            if kind in _ENDS:
                return event, list(asking.values())
            if kind == "step_input_required":
                request = event.step_input_required.request
                asking[request.step_id, request.item if request.HasField("item") else None] = request
            elif kind == "step_input_provided":
                answered = event.step_input_provided
                asking.pop((answered.step_id, answered.item if answered.HasField("item") else None), None)
            step = _step_ended(event, kind)
            if step is not None and step[0] not in ended:
                ended.add(step[0])
                await _progress(ctx, len(ended), total, f"step {step[0]} {step[1]}")
        return None, []  # the gateway is stopping

    async def _abandon(self, run_id: str, owner: str | None) -> None:
        """Cancel the run of a call its client abandoned (shielded: the call itself is cancelled)."""
        with anyio.move_on_after(CANCEL_SECONDS, shield=True):
            try:
                await self._engine.cancel_run(run_id, "the MCP client cancelled the call", owner)
                log.info("mcp call cancelled: run cancelled", extra={"run_id": run_id})
            except AgentMeshError as exc:
                log.warning(
                    "cannot cancel the run of a cancelled mcp call",
                    extra={"run_id": run_id, "error": str(exc)},
                )

    async def _answer(
        self,
        run_id: str,
        end: run_pb2.RunEvent | None,
        asking: list[run_pb2.InputRequest],
        owner: str | None,
        made: RunFiles,
    ) -> CallToolResult:
        kind = end.WhichOneof("event") if end is not None else None
        if end is not None and kind == "run_completed":
            outputs = to_python(end.run_completed.outputs)
            return CallToolResult(
                content=[TextContent(text=views.json_text(outputs)), *made.contents(run_id)],
                structured_content=outputs,
                _meta={RUN_ID_META: run_id, STATE_META: "SUCCEEDED"},
            )
        if end is not None and kind == "run_failed":
            error = views.error_view(end.run_failed.error)
            where = f" in step {error['step_id']}" if "step_id" in error else ""
            text = f"Run {run_id} failed{where}: {error['code']}: {error['message']}"
            return _error_result(text, run_id, "FAILED", error)
        if end is not None and kind == "run_cancelled":
            reason = end.run_cancelled.reason
            return _error_result(
                f"Run {run_id} was cancelled" + (f": {reason}" if reason else "."), run_id, "CANCELLED"
            )
        if end is not None and kind == "run_waiting":
            questions = [views.question_view(request) for request in asking[: views.MAX_QUESTIONS]]
            lines = [f"Run {run_id} waits for input:"]
            lines += [f"- step {q['step_id']} asks: {q['question']}" for q in questions]
            if len(asking) > len(questions):
                lines.append(f"- and {len(asking) - len(questions)} more questions (get_run lists them)")
            lines.append(
                f"Answer with ProvideInput (`agentmesh respond {run_id} ...`), then follow it with get_run."
            )
            return _error_result("\n".join(lines), run_id, "WAITING_FOR_INPUT")
        state = views.state_name((await self._engine.get_run(run_id, owner)).state)
        return _error_result(f"Run {run_id} is {state}: follow it with get_run.", run_id, state)

    # --- get_run, list_runs, cancel_run -------------------------------------------------------------

    async def _run_tool(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        owner = self._owner()
        if name == schemas.GET_RUN:
            _only(arguments, "run_id")
            run = await self._engine.get_run(_text(arguments, "run_id", required=True), owner)
            return _result(views.run_view(run), run.run_id, run.state)
        if name == schemas.LIST_RUNS:
            _only(arguments, "state", "page_size", "page_token")
            state_name = _text(arguments, "state").upper()
            if state_name and state_name not in schemas.RUN_STATES:
                raise InvalidInput.field("state", f"must be one of {', '.join(schemas.RUN_STATES)}")
            state = views.state_number(state_name) if state_name else 0
            size = arguments.get("page_size", DEFAULT_RUNS_PAGE)
            if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= schemas.MAX_RUNS_PAGE:
                raise InvalidInput.field("page_size", f"must be an integer from 1 to {schemas.MAX_RUNS_PAGE}")
            page = await self._engine.list_runs(state, size, _text(arguments, "page_token"), owner)
            found = {
                "runs": [views.run_summary(run) for run in page.runs],
                "next_page_token": page.next_page_token,
            }
            return _result(found)
        _only(arguments, "run_id", "reason")
        reason = cut(_text(arguments, "reason"), MAX_REASON_BYTES) or "cancelled over MCP"
        run = await self._engine.cancel_run(_text(arguments, "run_id", required=True), reason, owner)
        return _result(views.run_summary(run), run.run_id, run.state)

    # --- the caller ---------------------------------------------------------------------------------

    @contextmanager
    def _caller(self, ctx: Context) -> Iterator[Principal | None]:
        """The principal the HTTP request authenticated, current while the handler runs (roles and
        tenant isolation read it there, as on every surface)."""
        request = ctx.request
        principal = request.scope.get(PRINCIPAL_SCOPE_KEY) if isinstance(request, Request) else None
        if not isinstance(principal, Principal):
            principal = None
        if principal is None and self._authenticated:
            raise MCPError(PERMISSION_DENIED, "no authenticated caller")  # fail closed
        token = current_principal.set(principal)
        try:
            yield principal
        finally:
            current_principal.reset(token)

    def _owner(self) -> str | None:
        return _visible_owner(self._isolated)


def _authorize(principal: Principal | None, operation: str, what: str) -> None:
    if principal is None:
        return
    try:
        authorize(principal, operation)
    except PermissionDenied as exc:
        needed = exc.metadata.get("required", "")
        message = (
            f"permission denied: {principal.name!r} is a {principal.role.label}, "
            f"and {cut(what, 128)} needs the {needed} role"
        )
        data = {"code": exc.code.name, "reason": exc.reason, "role": principal.role.label, "required": needed}
        raise MCPError(PERMISSION_DENIED, message, data) from None


def _cursor(cursor: str | None, count: int) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or int(cursor) > count:
        raise MCPError(INVALID_PARAMS, "invalid cursor: pass the nextCursor of the previous page")
    return int(cursor)


def _step_ended(event: run_pb2.RunEvent, kind: str | None) -> tuple[str, str] | None:
    """(step id, how it ended) when the event ends a step (not one for_each item of it)."""
    if kind == "step_completed" and not event.step_completed.HasField("item"):
        return event.step_completed.step_id, "succeeded"
    if kind == "step_failed":
        return event.step_failed.step_id, "failed"
    if kind == "step_skipped":
        return event.step_skipped.step_id, "skipped"
    return None


async def _progress(ctx: Context, progress: float, total: float, message: str) -> None:
    """A progress notification, if the client asked for them (a progress token)."""
    try:
        await ctx.session.report_progress(progress, total, message)
    except Exception as exc:  # the client's stream may be gone: the call goes on regardless
        log.debug("mcp progress not sent", extra={"error": str(exc)})


def _only(arguments: Mapping[str, Any], *names: str) -> None:
    unknown = [name for name in arguments if name not in names]
    if unknown:
        raise InvalidInput(
            "unknown arguments: " + ", ".join(echo(name) for name in unknown[:5]),
            [FieldViolation(cut(name, 128), "is not an argument of this tool") for name in unknown[:20]],
        )


def _text(arguments: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    value = arguments.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInput.field(name, "is required")
        return ""
    if not isinstance(value, str):
        raise InvalidInput.field(name, "must be a string")
    return value


def _result(view: dict[str, Any], run_id: str = "", state: int = 0) -> CallToolResult:
    meta = {RUN_ID_META: run_id, STATE_META: views.state_name(state)} if run_id else None
    return CallToolResult(
        content=[TextContent(text=views.json_text(view))], structured_content=view, _meta=meta
    )


def _error_result(text: str, run_id: str, state: str, error: dict[str, Any] | None = None) -> CallToolResult:
    meta: dict[str, Any] = {RUN_ID_META: run_id, STATE_META: state}
    if error is not None:
        meta[ERROR_META] = error
    return CallToolResult(content=[TextContent(text=text)], is_error=True, _meta=meta)


def _failed(exc: AgentMeshError, run_id: str = "") -> CallToolResult:
    """An engine error as a tool error: its text for the model, its details in `_meta`."""
    error = views.error_of(exc)
    log.log(
        logging.INFO if isinstance(exc, InvalidInput) else logging.WARNING,
        "mcp tool failed",
        extra={"code": error["code"], "reason": error["reason"], "run_id": run_id},
    )
    meta: dict[str, Any] = {ERROR_META: error}
    if run_id:
        meta[RUN_ID_META] = run_id
    return CallToolResult(content=[TextContent(text=views.error_text(error))], is_error=True, _meta=meta)
