"""The engine's own lifecycle: what losing one run's lease may stop, and what it must not."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from agentmesh_gateway.engine import Engine
from agentmesh_gateway.store.postgres import PostgresRunStore
from agentmesh_gateway.validator import INLINE_VALIDATION_BYTES
from tests.support.engine import AGENT, Outcome, new_case, running_engine, start
from tests.support.mesh import workflow
from tests.support.rpc import log_records


def large_workflow(name: str) -> dict[str, object]:
    """Past the size validated on the event loop: validating it takes the validation thread."""
    description = "x" * (INLINE_VALIDATION_BYTES + 6 * 1024)
    return {"name": name, "description": description, "steps": [{"id": "a", "agent": AGENT}]}


SLOW = workflow(
    {
        "name": "slow",
        "steps": [{"id": "s", "agent": AGENT, "skill": "act", "input": {"case": "${inputs.case}"}}],
    }
)


async def test_a_replica_that_lost_a_lease_still_validates_large_workflows(
    postgres_database: str, agent_address: str
) -> None:
    store = PostgresRunStore(postgres_database, replica="a", lease_seconds=0.6)
    with log_records("agentmesh.gateway.replicas") as logged:
        async with running_engine(store, agent_address) as engine:
            await lose_a_lease(engine, postgres_database, logged)
            # Not the workflow validated (and cached) before: this one needs the thread again.
            assert await engine.validate(workflow(large_workflow("second"))) == ["a"]


async def lose_a_lease(engine: Engine, database: str, logged: list[logging.LogRecord]) -> None:
    """Another replica takes a run of this engine's over; wait until this one has dropped it."""
    assert await engine.validate(workflow(large_workflow("first"))) == ["a"]
    case, _ = new_case({("s", None, 1): Outcome(delay=30)})
    run_id = await start(engine, SLOW, {"case": case})
    # Another replica takes the run over, as if this one had been paused past its lease.
    db = await asyncpg.connect(database)
    try:
        await db.execute(
            "UPDATE runs SET lease_owner = 'b', fence = fence + 1,"
            " lease_until = now() + interval '1 hour' WHERE run_id = $1",
            run_id,
        )
    finally:
        await db.close()
    async with asyncio.timeout(10):  # the next lease round finds the lease gone, and drops the run
        while not [r for r in logged if r.getMessage().startswith("lease lost")]:
            await asyncio.sleep(0.05)
