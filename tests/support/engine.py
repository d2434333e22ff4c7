"""The engine in-process, against a scripted agent on a real gRPC port and a real SQLite file.

Hundreds of generated workflows fit in a test this way: no process starts per case.
The agent is an SDK agent whose single skill does what the case's script says for
each (step, item, attempt): succeed, or fail with a code, after a delay. It records
every call it receives, so a test sees the engine's work from the agent's side.

`CrashingStore` stops making writes durable after a given number of commits, which
is what a gateway killed at that moment leaves behind; a second engine opened on
the same file then resumes from exactly that state.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from pydantic import BaseModel

from agentmesh import Agent, AgentMeshError, Ask, Context, Reply
from agentmesh.errors import ResourceExhausted
from agentmesh.messages import TokenUsage
from agentmesh.runtime import agent_host
from agentmesh.server import ServiceHost
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_gateway.agents import AgentDirectory
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.pricing import Prices
from agentmesh_gateway.run_request import RunRequest
from agentmesh_gateway.state import RunState
from agentmesh_gateway.store.base import Batch, RunStore, WriteResult
from agentmesh_gateway.store.postgres import PostgresRunStore
from agentmesh_gateway.store.registry import ScheduleRecord
from agentmesh_gateway.store.sqlite import SqliteRunStore
from agentmesh_gateway.throttle import AgentLimits

AGENT = "scripted"
#: The model the scripted agent's replies say spent their tokens.
MODEL = "scripted-model"
#: What the scripted agent's questions want for an answer.
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"choice": {"type": "integer", "minimum": 0}},
    "required": ["choice"],
}


@dataclass(frozen=True)
class Outcome:
    """What one attempt does: wait `delay` seconds, then succeed or fail with `code`; before
    that, ask `asks` questions (one per call, each answered before the next call)."""

    delay: float = 0.0
    code: str = ""  # empty: succeed
    asks: int = 0
    #: Tokens the reply says the model `MODEL` spent (input, output).
    tokens: tuple[int, int] = (0, 0)
    #: Refuse as out of capacity (RESOURCE_EXHAUSTED) saying when to come back (RetryInfo).
    retry_after: float | None = None


@dataclass
class Call:
    """One call the agent received."""

    step: str
    item: int | None
    attempt: int
    key: str
    deps: dict[str, Any]
    started: float
    ended: float | None = None
    cancelled: bool = False
    #: The answers the call was sent (the conversation's), oldest first.
    answers: tuple[Any, ...] = ()


@dataclass
class Script:
    """A case's outcomes by (step, item, attempt); anything unlisted succeeds at once."""

    outcomes: Mapping[tuple[str, int | None, int], Outcome] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)


_scripts: dict[str, Script] = {}
_cases = itertools.count()


class Act(BaseModel):
    case: str
    deps: dict[str, Any] = {}


scripted = Agent(AGENT, description="Does what the test's script says for each step, item and attempt.")


@scripted.skill("act", "Follow the script.", input=Act, asks_for_input=True)
async def act(data: Act, ctx: Context) -> Reply | Ask:
    _, step, item_label, attempt_label = ctx.idempotency_key.rsplit("/", 3)
    item = None if item_label == "-" else int(item_label)
    attempt = int(attempt_label.split("-")[0])  # "2-1": attempt 2, after one answer
    script = _scripts[data.case]
    outcome = script.outcomes.get((step, item, attempt), Outcome())
    answers = tuple(turn.data for turn in ctx.history[2::2]) + ((ctx.message.data,) if ctx.history else ())
    call = Call(step, item, attempt, ctx.idempotency_key, data.deps, time.monotonic(), answers=answers)
    script.calls.append(call)
    if ctx.turn < outcome.asks:
        call.ended = time.monotonic()
        return Ask(f"{step}/{item_label} question {ctx.turn + 1}?", schema=ANSWER_SCHEMA)
    try:
        await asyncio.sleep(outcome.delay)
    except asyncio.CancelledError:
        call.cancelled = True
        raise
    finally:
        call.ended = time.monotonic()
    if outcome.retry_after is not None:
        raise ResourceExhausted("scripted overload", retry_delay=outcome.retry_after, reason="SCRIPTED")
    if outcome.code:
        raise AgentMeshError("scripted failure", code=grpc.StatusCode[outcome.code], reason="SCRIPTED")
    if any(outcome.tokens):
        ctx.usage += TokenUsage(*outcome.tokens).of_model(MODEL)
    return Reply(
        text=f"{step}/{item_label}",
        data={"token": f"{step}/{item_label}/{attempt}", "answers": list(answers)},
    )


def new_case(outcomes: Mapping[tuple[str, int | None, int], Outcome]) -> tuple[str, Script]:
    """A case id to pass as the run's `case` input, and the script the agent follows for it."""
    case = f"case-{next(_cases)}"
    _scripts[case] = Script(dict(outcomes))
    return case, _scripts[case]


@asynccontextmanager
async def scripted_agent() -> AsyncIterator[str]:
    """The scripted agent served on a free port; yields its address."""
    host: ServiceHost = agent_host(scripted)
    port = await host.start("127.0.0.1:0")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await host.stop(0)


class StoreCrashed(Exception):
    """The simulated gateway died: nothing written from now on is durable."""


class _Crashing:
    """Makes a store's commits stop reaching the database after `durable_writes` of them."""

    _left: int | None
    crashed: asyncio.Event

    def crash_after(self, durable_writes: int | None) -> None:
        self._left = durable_writes
        self.crashed = asyncio.Event()

    def _commit(self) -> None:
        if self._left is not None:
            if self._left <= 0:
                self.crashed.set()
                raise StoreCrashed
            self._left -= 1

    async def write(self, batch: Batch) -> WriteResult:
        self._commit()
        written: WriteResult = await super().write(batch)  # type: ignore[misc]
        return written

    async def update_schedule(
        self, record: ScheduleRecord, *, expected_next_fire_ns: int | bool | None = False
    ) -> bool:
        """A schedule moving to its next tick is a commit too: the gateway may die just before it."""
        self._commit()
        moved: bool = await super().update_schedule(  # type: ignore[misc]
            record, expected_next_fire_ns=expected_next_fire_ns
        )
        return moved


class CrashingStore(_Crashing, SqliteRunStore):
    """A SQLite store whose writes stop reaching the disk after `durable_writes` commits."""

    def __init__(self, path: Path, durable_writes: int | None = None) -> None:
        super().__init__(path)
        self.crash_after(durable_writes)


class CrashingPostgresStore(_Crashing, PostgresRunStore):
    """The same on PostgreSQL: a replica's commits stop after `durable_writes` (it died there)."""

    def __init__(self, url: str, durable_writes: int | None = None, **options: Any) -> None:
        super().__init__(url, **options)
        self.crash_after(durable_writes)


@asynccontextmanager
async def running_engine(
    store: RunStore,
    agent_address: str,
    workflows: Mapping[str, workflow_pb2.Workflow] | None = None,
    prices: Prices | None = None,
    limits: AgentLimits | None = None,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Engine]:
    """An engine on `store` that knows the scripted agent (with `limits`) and `workflows` (for
    sub-workflow steps), pricing models at `prices`, firing schedules by `clock`."""
    agents = AgentDirectory({AGENT: [agent_address]}, limits={AGENT: limits} if limits else None)
    engine = Engine(store, agents, dict(workflows or {}), prices=prices, clock=clock)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


async def start(engine: Engine, workflow: workflow_pb2.Workflow, inputs: Mapping[str, Any]) -> str:
    run = await engine.start_run(RunRequest(workflow, inputs, run_pb2.RunContext()))
    return run.run_id


async def history(engine: Engine, run_id: str) -> list[run_pb2.RunEvent]:
    """Every stored event of a run, in order."""
    events: list[run_pb2.RunEvent] = []
    while page := await engine.store.events_after(run_id, len(events), 500):
        events += [record.event() for record in page]
    return events


async def finish(engine: Engine, run_id: str, after: int = 0) -> list[run_pb2.RunEvent]:
    """Follow the run to its end; its whole stored history."""
    async with asyncio.timeout(30):  # a run that never ends fails the test instead of hanging it
        async for _ in engine.watch(run_id, after):
            pass
    return await history(engine, run_id)


def replay(events: list[run_pb2.RunEvent]) -> run_pb2.Run:
    """The run as its history says it is, built the way a restarted gateway builds it."""
    state = RunState(run_pb2.Run.FromString(events[0].run_started.run.SerializeToString()))
    for event in events:
        state.apply(event)
    return state.run
