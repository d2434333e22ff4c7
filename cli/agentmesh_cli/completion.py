"""Shell completion of what only the gateway knows: workflow names, run ids; and run states.

Each asks the gateway the command line points at (its --gateway, else AGENTMESH_GATEWAY) with a
short deadline, and completes nothing rather than hang or print an error into the shell.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import click

from agentmesh.client import Client, RunState, default_target

#: Seconds a completion may wait for the gateway.
DEADLINE = 1.5


def _ask(ctx: click.Context, question: Callable[[Client], Awaitable[list[str]]]) -> list[str]:
    target = str(ctx.params.get("gateway") or default_target())
    token = os.environ.get("AGENTMESH_TOKEN") or None

    async def ask() -> list[str]:
        async with asyncio.timeout(DEADLINE):
            client = await Client.connect(target, token=token, timeout=DEADLINE)
            async with client:
                return await question(client)

    try:
        return asyncio.run(ask())
    except Exception:  # a gateway away, or refusing: nothing to offer
        return []


def workflow_names(ctx: click.Context, incomplete: str) -> list[str]:
    async def names(client: Client) -> list[str]:
        return sorted(w.name for w in await client.list_workflows())

    return [name for name in _ask(ctx, names) if name.startswith(incomplete)]


def run_ids(ctx: click.Context, incomplete: str) -> list[str]:
    """The most recent runs' ids (newest first) that start with what is typed."""

    async def recent(client: Client) -> list[str]:
        found = []
        async for run in client.list_runs(page_size=100, query=incomplete):
            found.append(run.run_id)
            if len(found) == 100:
                break
        return found

    return [run_id for run_id in _ask(ctx, recent) if run_id.startswith(incomplete)]


def run_states(incomplete: str) -> list[str]:
    return [s.value for s in RunState if s != RunState.UNSPECIFIED and s.value.startswith(incomplete)]
