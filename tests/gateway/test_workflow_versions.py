"""Workflow versions, on SQLite and PostgreSQL: every registered version is kept, a run pins the
definition it started with, NAME starts the latest and NAME@VERSION that one, a changed definition
under a taken version is refused, and a version registered on one replica starts on another.

The engine in this test's loop against the scripted agent over real gRPC.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agentmesh.errors import AlreadyExists, NotFound
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.run_request import RunRequest
from agentmesh_gateway.store import RunStore, open_store
from agentmesh_gateway.store.postgres import PostgresRunStore
from tests.support.engine import AGENT, Outcome, history, new_case, running_engine
from tests.support.mesh import workflow


def steps(*ids: str, version: str = "") -> workflow_pb2.Workflow:
    """A workflow `flow` whose steps are `ids`, each one call of the scripted agent."""
    definition = workflow(
        {
            "name": "flow",
            "inputs": [{"name": "case", "required": True}],
            "steps": [
                {"id": step, "agent": AGENT, "skill": "act", "input": {"case": "${inputs.case}"}}
                for step in ids
            ],
        }
    )
    definition.version = version
    return definition


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


def store_at(location: str) -> RunStore:
    return open_store(location, lease_seconds=1.5)


async def start_named(engine: Engine, name: str, case: str) -> str:
    definition = await engine.resolve_workflow(name)
    run = await engine.start_run(RunRequest(definition, {"case": case}, run_pb2.RunContext()))
    return run.run_id


async def until_done(engine: Engine, run_id: str) -> run_pb2.Run:
    async with asyncio.timeout(30):  # a run that never ends fails the test instead of hanging it
        async for _ in engine.watch(run_id, 0):
            pass
    return await engine.get_run(run_id)


async def test_versions_number_themselves_and_a_taken_version_keeps_its_definition(
    location: str, agent_address: str
) -> None:
    async with running_engine(store_at(location), agent_address) as engine:
        first, created = await engine.apply_workflow(steps("a"))
        assert (first.version, created) == ("1", True)
        # The same definition again is the same version: nothing new.
        again, created = await engine.apply_workflow(steps("a"))
        assert (again.version, created) == ("1", False)
        second, created = await engine.apply_workflow(steps("a", "b"))
        assert (second.version, created) == ("2", True)
        named, created = await engine.apply_workflow(steps("a", "b", "c", version="2026-12"))
        assert (named.version, created) == ("2026-12", True)
        with pytest.raises(AlreadyExists) as taken:
            await engine.apply_workflow(steps("x", version="1"))
        assert taken.value.reason == "VERSION_TAKEN"
        # Refused changes nothing: version 1 still holds its own steps.
        assert [s.id for s in engine.workflow("flow@1").steps] == ["a"]
        assert [s.id for s in engine.workflow("flow").steps] == ["a", "b", "c"]
        # The next number counts past every numeric version, whatever names came between.
        third, _ = await engine.apply_workflow(steps("d"))
        assert third.version == "3"
        assert [v.version for v in await engine.workflow_versions("flow")] == ["3", "2026-12", "2", "1"]
        with pytest.raises(NotFound) as missing:
            engine.workflow("flow@9")
        assert missing.value.reason == "WORKFLOW_VERSION_NOT_FOUND"


async def test_a_run_keeps_the_version_it_started_with_across_a_restart(
    location: str, agent_address: str
) -> None:
    case, script = new_case({("a", None, 1): Outcome(delay=1.0)})
    async with running_engine(store_at(location), agent_address) as first:
        await first.apply_workflow(steps("a", "b"))
        run_id = await start_named(first, "flow", case)
        async with asyncio.timeout(20):
            while not script.calls:
                await asyncio.sleep(0.02)
    # While the run is down, the workflow changes: the run must not notice.
    async with running_engine(store_at(location), agent_address) as second:
        await second.apply_workflow(steps("a", "z"))
        done = await until_done(second, run_id)
        assert done.state == run_pb2.RUN_STATE_SUCCEEDED
        assert (done.workflow.version, [s.step_id for s in done.steps]) == ("1", ["a", "b"])
        assert {call.step for call in script.calls} == {"a", "b"}
        # A new run by name takes the latest, by NAME@VERSION the one named.
        latest = await until_done(second, await start_named(second, "flow", case))
        assert (latest.workflow.version, [s.step_id for s in latest.steps]) == ("2", ["a", "z"])
        pinned = await until_done(second, await start_named(second, "flow@1", case))
        assert [s.step_id for s in pinned.steps] == ["a", "b"]
        counts = {v.version: (v.runs, v.runs_unfinished) for v in await second.workflow_versions("flow")}
        assert counts == {"1": (2, 0), "2": (1, 0)}
        started = (await history(second, run_id))[0].run_started
        assert started.run.workflow.version == "1"


async def test_the_workflows_a_gateway_starts_with_are_versions_too(
    location: str, agent_address: str
) -> None:
    async with running_engine(store_at(location), agent_address, {"flow": steps("a")}) as engine:
        assert [v.version for v in await engine.workflow_versions("flow")] == ["1"]
    # Started again with the same definition: no new version. With a changed one: the next.
    async with running_engine(store_at(location), agent_address, {"flow": steps("a")}) as engine:
        assert [v.version for v in await engine.workflow_versions("flow")] == ["1"]
    async with running_engine(store_at(location), agent_address, {"flow": steps("a", "b")}) as engine:
        assert [v.version for v in await engine.workflow_versions("flow")] == ["2", "1"]
        assert engine.workflow("flow").version == "2"


async def test_a_version_registered_on_one_replica_starts_at_once_on_another(
    postgres_database: str, agent_address: str
) -> None:
    case, _ = new_case({})
    async with (
        running_engine(PostgresRunStore(postgres_database, replica="a"), agent_address) as a,
        running_engine(PostgresRunStore(postgres_database, replica="b"), agent_address) as b,
    ):
        registered, _ = await a.apply_workflow(steps("a", "b", version="7"))
        # b has not refreshed yet; asking for the version by name reads the store.
        run = await until_done(b, await start_named(b, "flow@7", case))
        assert (run.state, run.workflow.version) == (run_pb2.RUN_STATE_SUCCEEDED, registered.version)
        with pytest.raises(AlreadyExists):
            await b.apply_workflow(steps("changed", version="7"))
