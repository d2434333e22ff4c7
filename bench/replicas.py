"""p9: the gateway on PostgreSQL next to SQLite in the same run, throughput (p3) and runs in flight
(p4, 3,000 of 5 s) with one, two and three replicas sharing the database, and how long a replica
killed with SIGKILL takes to be taken over.

A real PostgreSQL server is started from the installed binaries (as the tests do; `make test`
installs Debian's postgresql), fsync off as in the tests, so the figures compare the engines'
work per step rather than two disks' flush latency: on one machine with 2 cores, every replica
and the database share the same cores, so more replicas cannot add throughput here; the figures
show what a replica and the database cost, not a cluster's capacity.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from agentmesh.client import Client, ReplicaHealth, RunResumed
from agentmesh_cli.process import ServerProcess
from bench.capacity import inflight
from bench.workloads import chain, concurrently, run_to_end, timed

# The tests' PostgreSQL harness: starting a server from the binaries is the same job here.
from tests.support.postgres import create_database, postgres_server

_databases = itertools.count()
#: p4 on PostgreSQL: fewer runs than p4's 10,000 on SQLite, three times over (one per replica count).
INFLIGHT_RUNS = 3000


@dataclass
class Replicated:
    agent: ServerProcess
    gateways: list[ServerProcess]
    clients: list[Client]


@asynccontextmanager
async def replicated(database: str, replicas: int, lease: float = 6.0) -> AsyncIterator[Replicated]:
    """The bench agent and `replicas` gateways on `database`, each seeing the agent SERVING."""
    agent = ServerProcess([sys.executable, "-m", "bench.bench_agent", "--host", "127.0.0.1", "--port", "0"])
    await agent.start()
    gateways = [
        ServerProcess(
            [sys.executable, "-m", "agentmesh_cli", "gateway", "--host", "127.0.0.1", "--port", "0",
             "--store", database, "--agent", f"bench=127.0.0.1:{agent.port}", "--lease-seconds", str(lease)],
            name=f"gateway-{i}",
        )
        for i in range(replicas)
    ]  # fmt: skip
    clients: list[Client] = []
    try:
        await asyncio.gather(*(g.start() for g in gateways))
        clients = [await Client.connect(f"127.0.0.1:{g.port}") for g in gateways]
        async with asyncio.timeout(30):
            for client in clients:
                await agent_serving(client)
        yield Replicated(agent, gateways, clients)
    finally:
        for client in clients:
            await client.close()
        for process in [*gateways, agent]:
            if process.started and process.returncode is None:
                await process.stop()


async def agent_serving(client: Client) -> None:
    """Until the gateway sees the bench agent SERVING."""
    while True:
        agents = await client.list_agents()
        if any(r.health == ReplicaHealth.SERVING for a in agents for r in a.replicas):
            return
        await asyncio.sleep(0.05)


def fresh(server: str) -> str:
    return create_database(server, f"bench_{next(_databases)}")


async def measure(add: object, reps: int) -> None:
    """Add p9's figures through `add(key, value)`."""
    assert callable(add)
    with postgres_server() as server:
        async with replicated(fresh(server), 1) as one:
            client = one.clients[0]
            await run_to_end(client, chain(2))
            for _ in range(reps):
                add("p9_pg_p1_step_ms", await timed(lambda: run_to_end(client, chain(50))) / 50 * 1000)
        for count in (1, 2, 3):
            async with replicated(fresh(server), count) as mesh:
                for client in mesh.clients:
                    await run_to_end(client, chain(2))
                for _ in range(reps):
                    add(f"p9_pg_r{count}_p3_runs_per_s", await spread_throughput(mesh.clients))
                pid = mesh.gateways[0].pid
                most, _ = await inflight(mesh.clients[0], pid, INFLIGHT_RUNS, 5000, mesh.clients)
                add(f"p9_pg_r{count}_p4_inflight_runs", most)
        for _ in range(max(1, reps // 2)):
            add("p9_takeover_s", await takeover(fresh(server)))


async def spread_throughput(clients: list[Client]) -> float:
    """p3 with its 64 clients' runs started round-robin over the replicas (each executes its own)."""
    spread = itertools.cycle(clients)
    one_step = chain(1)
    return await concurrently(64, 3.0, lambda: run_to_end(next(spread), one_step))


async def takeover(database: str) -> float:
    """Seconds from SIGKILL of the replica executing a run to another replica resuming it."""
    async with replicated(database, 2) as mesh:
        executing, watching = mesh.clients
        handle = await executing.start(chain(1, "sleep", {"ms": 60_000}))
        await asyncio.sleep(1.0)  # the step is in flight, the lease renewed
        killed = time.monotonic()
        await mesh.gateways[0].kill()
        async with asyncio.timeout(60):
            async for event in watching.handle(handle.run_id).events():
                if isinstance(event, RunResumed):
                    seconds = time.monotonic() - killed
                    break
        await watching.handle(handle.run_id).cancel("bench done")
        return seconds
