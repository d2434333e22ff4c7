"""`agentmesh up`: the gateway and every local agent of a mesh, each as its own process.

Agents whose addresses are on this machine are started (one process per address, so
a list of addresses is a set of replicas); other addresses are left to the gateway
to reach. Port 0 picks a free port; the gateway is told the ports the agents got.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import grpc
from rich.console import Console

from agentmesh.health import wait_serving
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import orchestrator_service_pb2_grpc as pb_grpc
from agentmesh_cli.client import CliError
from agentmesh_cli.process import ServerProcess
from agentmesh_gateway.config import GatewayConfig
from agentmesh_services import AGENTS

console = Console()
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "0.0.0.0", "[::]")


def _local_port(address: str) -> int | None:
    host, _, port = address.rpartition(":")
    return int(port) if host in _LOCAL_HOSTS and port.isdigit() else None


async def up(config: GatewayConfig, *, until_signalled: bool = True) -> int:
    processes: list[tuple[str, ServerProcess]] = []
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    env = {**os.environ, **({"AGENTMESH_LLM": config.llm} if config.llm else {})}
    try:
        starting, remote = _plan_agents(config, env)
        processes.extend(starting)
        spawning = asyncio.gather(*(process.start() for _, process in starting))
        if any(process.port == 0 for _, process in starting):
            await spawning  # the gateway must be told the ports the OS picks
        # Otherwise the gateway starts alongside its agents: it follows their health and
        # uses each as soon as it is SERVING.
        gateway = ServerProcess(_gateway_args(config, starting, remote), env)
        processes.append(("gateway", gateway))
        await asyncio.gather(spawning, gateway.start())
        await asyncio.gather(*(wait_serving(f"127.0.0.1:{process.port}") for _, process in processes))
        await _gateway_sees(f"127.0.0.1:{gateway.port}", {f"127.0.0.1:{p.port}" for _, p in starting})
        for name, process in processes:
            console.print(f"[green]✓[/] {name:<15} 127.0.0.1:{process.port:<6} pid {process.pid}")
        console.print(
            f"mesh is up: gateway at 127.0.0.1:{gateway.port} (Ctrl-C stops everything)", highlight=False
        )
        if until_signalled:
            await stopping.wait()
        return 0
    except (OSError, RuntimeError, TimeoutError) as exc:
        raise CliError(f"the mesh did not come up: {exc}") from None
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        # The gateway first, so that no new call reaches an agent that is stopping.
        await asyncio.gather(*(p.stop() for n, p in processes if n == "gateway"))
        await asyncio.gather(*(p.stop() for n, p in processes if n != "gateway"))
        if processes:
            console.print(f"mesh stopped ({len(processes)} processes)")


async def _gateway_sees(gateway: str, replicas: set[str], timeout: float = 30) -> None:
    """Wait until the gateway reports every replica SERVING: "up" means runs can reach them all."""
    async with grpc.aio.insecure_channel(gateway) as channel, asyncio.timeout(timeout):
        stub = pb_grpc.OrchestratorServiceStub(channel)
        while True:
            agents = (await stub.ListAgents(pb.ListAgentsRequest())).agents
            serving = {r.address for a in agents for r in a.replicas if r.health == pb.REPLICA_HEALTH_SERVING}
            if replicas <= serving:
                return
            await asyncio.sleep(0.02)


def _plan_agents(
    config: GatewayConfig, env: dict[str, str]
) -> tuple[list[tuple[str, ServerProcess]], dict[str, list[str]]]:
    """The agent processes to start (port 0 until known), and the addresses left to the gateway."""
    starting: list[tuple[str, ServerProcess]] = []
    remote: dict[str, list[str]] = {}
    for name, addresses in config.agents.items():
        remote[name] = []
        for address in addresses:
            port = _local_port(address)
            if port is None or name not in AGENTS:
                remote[name].append(address)  # remote, or not ours to start: the gateway reaches it
                continue
            process = ServerProcess.agent(name, port=port, env=env)
            process.port = port
            starting.append((name, process))
    return starting, remote


def _gateway_args(
    config: GatewayConfig, starting: list[tuple[str, ServerProcess]], remote: dict[str, list[str]]
) -> list[str]:
    args = [
        sys.executable,
        "-m",
        "agentmesh_cli",
        "gateway",
        "--host",
        config.host,
        "--port",
        str(config.port),
    ]
    args += ["--store", str(config.store)]
    for name, addresses in remote.items():
        local = [f"127.0.0.1:{process.port}" for agent, process in starting if agent == name]
        args += ["--agent", f"{name}={','.join(local + addresses)}"]
    for path in config.workflow_paths:
        args += ["--workflows", str(path)]
    return args
