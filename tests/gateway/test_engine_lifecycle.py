"""The engine's own lifecycle: what losing one run's lease may stop, and what it must not."""

from __future__ import annotations

from pathlib import Path

from agentmesh_gateway.engine import INLINE_VALIDATION_BYTES
from agentmesh_gateway.store.sqlite import SqliteRunStore
from tests.support.engine import AGENT, running_engine
from tests.support.mesh import workflow


def large_workflow(name: str) -> dict[str, object]:
    """Past the size validated on the event loop: validating it takes the validation thread."""
    description = "x" * (INLINE_VALIDATION_BYTES + 6 * 1024)
    return {"name": name, "description": description, "steps": [{"id": "a", "agent": AGENT}]}


async def test_dropping_a_run_leaves_validation_of_large_workflows_working(
    tmp_path: Path, agent_address: str
) -> None:
    async with running_engine(SqliteRunStore(tmp_path / "store.db"), agent_address) as engine:
        assert await engine.validate(workflow(large_workflow("first"))) == ["a"]
        # What the lease keeper does when another replica has taken a run over.
        await engine.drop("0" * 32)
        # Not the workflow validated (and cached) before: this one needs the thread again.
        assert await engine.validate(workflow(large_workflow("second"))) == ["a"]
