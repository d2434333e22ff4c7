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

from rich.console import Console

from agentmesh.cli.client import CliError
from agentmesh.health import wait_serving
from agentmesh.process import ServerProcess
from gateway.config import GatewayConfig
from services import AGENTS

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
        agents = await _start_agents(config, processes, env)
        args = [
            sys.executable,
            "-m",
            "agentmesh",
            "gateway",
            "--host",
            config.host,
            "--port",
            str(config.port),
        ]
        args += ["--store", str(config.store)]
        for name, addresses in agents.items():
            args += ["--agent", f"{name}={','.join(addresses)}"]
        for path in config.workflow_paths:
            args += ["--workflows", str(path)]
        gateway = ServerProcess(args, env)
        processes.append(("gateway", gateway))
        await gateway.start()
        await wait_serving(f"127.0.0.1:{gateway.port}")
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


async def _start_agents(
    config: GatewayConfig, processes: list[tuple[str, ServerProcess]], env: dict[str, str]
) -> dict[str, list[str]]:
    agents: dict[str, list[str]] = {}
    starting: list[tuple[str, ServerProcess]] = []
    for name, addresses in config.agents.items():
        agents[name] = []
        for address in addresses:
            port = _local_port(address)
            if port is None or name not in AGENTS:
                agents[name].append(address)  # remote, or not ours to start: the gateway reaches it
                continue
            starting.append((name, ServerProcess.agent(name, port=port, env=env)))
    processes.extend(starting)
    await asyncio.gather(*(process.start() for _, process in starting))
    for name, process in starting:
        await wait_serving(f"127.0.0.1:{process.port}")
        agents[name].append(f"127.0.0.1:{process.port}")
    return agents
