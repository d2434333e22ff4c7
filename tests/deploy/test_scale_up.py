"""A replica added behind a DNS name receives calls once it appears, as a pod added by a
Kubernetes scale-up does behind a headless Service: agents close each connection after
AGENTMESH_MAX_CONNECTION_AGE_S (GOAWAY), the gateway's dns:/// channel re-resolves the name
then, and round_robin spreads calls over every address it now has. The name lives in the
gateway's own /etc/hosts (bind-mounted in a private mount namespace), rewritten in place to add
the second replica's address."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from agentmesh import Client
from agentmesh.health import wait_serving
from agentmesh_cli.launch import LocalMesh
from agentmesh_cli.process import ServerProcess
from tests.deploy.test_clusterless import unshare_available
from tests.support import ROOT
from tests.support.mesh import probe_log, step, workflow

pytestmark = pytest.mark.slow

PROBE = ROOT / "tests" / "support" / "probe_agent.py"
NAME = "probe-replicas"


def free_port_on_both() -> int:
    """A port free on 127.0.0.1 and 127.0.0.2 (two loopback addresses, one per replica)."""
    for _ in range(20):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            try:
                second.bind(("127.0.0.2", port))
            except OSError:
                continue
            return int(port)
    raise RuntimeError("no port free on both loopback addresses")


def replica(host: str, port: int, label: str, log: Path) -> ServerProcess:
    env = {**os.environ, "PROBE_LOG": str(log), "PROBE_LABEL": label, "AGENTMESH_MAX_CONNECTION_AGE_S": "1"}
    return ServerProcess([sys.executable, str(PROBE), "--host", host, "--port", str(port)], env, name=label)


def resolve_to(hosts: Path, *addresses: str) -> None:
    """The gateway's hosts file: NAME → `addresses`, rewritten in place (its mount holds the inode)."""
    hosts.write_text("".join(f"{address} {NAME}\n" for address in addresses) + Path("/etc/hosts").read_text())


@pytest_asyncio.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[tuple[str, int, Path, Path]]:
    if not await asyncio.to_thread(unshare_available):
        pytest.skip("needs unshare -m (root) to give the gateway its own /etc/hosts")
    port = free_port_on_both()
    hosts, log = tmp_path / "hosts", tmp_path / "probe.jsonl"
    await asyncio.to_thread(resolve_to, hosts, "127.0.0.1")
    first = replica("127.0.0.1", port, "a", log)
    await first.start()
    plan = LocalMesh(tmp_path / "gateway.db")
    plan.add_remote("probe", f"dns:///{NAME}:{port}")
    wrapped = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts)]
    gateway = ServerProcess([*wrapped, *plan.gateway_command()], name="gateway")
    try:
        await gateway.start()
        await wait_serving(f"127.0.0.1:{gateway.port}")
        yield f"127.0.0.1:{gateway.port}", port, hosts, log
    finally:
        await gateway.stop()
        await first.stop()


async def test_a_replica_added_behind_the_name_receives_calls(mesh: tuple[str, int, Path, Path]) -> None:
    target, port, hosts, log = mesh
    echoes = workflow({"name": "echoes", "steps": [step("echo", "echo", {"value": 1})]})
    async with await Client.connect(target) as client:
        await (await client.start(echoes, {})).result()
        assert {record["replica"] for record in probe_log(log)} == {"a"}
        second = replica("127.0.0.2", port, "b", log)
        await second.start()
        try:
            await asyncio.to_thread(resolve_to, hosts, "127.0.0.1", "127.0.0.2")
            # grpc re-resolves a name at most every 30 s (its default), however often asked.
            async with asyncio.timeout(75):
                while "b" not in {record["replica"] for record in probe_log(log)}:
                    await (await client.start(echoes, {})).result()
                    await asyncio.sleep(0.2)
        finally:
            await second.stop()
