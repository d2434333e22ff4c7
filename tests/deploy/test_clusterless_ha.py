"""The ha overlay run without a cluster: its replicated gateway's command, args and env (the store's
URL from its Secret) from the checkout, on a real PostgreSQL, with the agents of the base."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agentmesh import Client
from agentmesh.health import wait_serving
from agentmesh_cli.process import ServerProcess
from tests.deploy.test_clusterless import plan, unshare_available
from tests.support import ROOT

pytestmark = pytest.mark.slow


async def test_the_ha_overlay_runs_without_a_cluster_on_a_local_postgresql(
    tmp_path: Path, postgres_database: str
) -> None:
    """The ha overlay's gateway Deployment, its store URL from the Secret, on a real PostgreSQL."""
    if not unshare_available():
        pytest.skip("needs unshare -m (root) to give the gateway its own /etc/hosts")
    launches, gateway_port = plan(tmp_path, "ha", {"agentmesh-database": {"url": postgres_database}})
    processes: list[ServerProcess] = []
    try:
        for name, argv, env in launches:
            process = ServerProcess(argv, env, name=name, cwd=ROOT)
            await process.start()
            processes.append(process)
        await wait_serving(f"127.0.0.1:{gateway_port}", timeout=30)
        gateway = processes[-1]
        assert gateway.logged("listening")[0]["store"] == postgres_database
        async with await Client.connect(f"127.0.0.1:{gateway_port}") as client:
            run = await client.start("trend-analysis", {"topic": "robots"})
            async with asyncio.timeout(60):
                assert (await run.result()).outputs
    finally:
        for process in reversed(processes):
            await process.stop()
