"""A run's budget (`budget: {tokens, cost}` in its workflow): checked before each agent call.

A run whose usage has reached a limit fails with RESOURCE_EXHAUSTED, reason BUDGET_EXCEEDED,
before its next call: not after a call that spent past it, since no one can take tokens back.
Calls of a budgeted run go one at a time, each checked once the previous one's usage is
applied, so the run stops within one call's usage of its limit; calls of runs without a budget
are not held up by any of this.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from agentmesh.v1 import run_pb2
from agentmesh_gateway.failures import StepError, run_error


class Budget:
    def __init__(self, run: run_pb2.Run) -> None:
        self._run = run
        self._limits = run.workflow.budget if run.workflow.HasField("budget") else None
        self._turn = asyncio.Lock()

    @asynccontextmanager
    async def call(self, step_id: str, attempt: int, item: int | None) -> AsyncIterator[None]:
        """Make one agent call under the budget (StepError, fatal, if it is spent)."""
        if self._limits is None:
            yield
            return
        async with self._turn:
            self._check(step_id, attempt, item)
            yield

    def _check(self, step_id: str, attempt: int, item: int | None) -> None:
        limits, usage = self._limits, self._run.usage
        assert limits is not None
        tokens = usage.input_tokens + usage.output_tokens
        if limits.tokens and tokens >= limits.tokens:
            spent = f"{tokens:,} tokens of its {limits.tokens:,}"
        elif limits.cost and usage.cost >= limits.cost:
            spent = f"{usage.cost:.6g} of its cost budget of {limits.cost:.6g}"
        else:
            return
        message = f"the run has spent {spent}; step {step_id!r} makes no further call"
        error = run_error("RESOURCE_EXHAUSTED", message, reason="BUDGET_EXCEEDED", step_id=step_id)
        raise StepError(error, attempt, item, fatal=True)
