"""`agentmesh up`: the gateway and every local agent of a mesh, each as its own process.

Agents whose addresses are on this machine are started (one process per address, so
a list of addresses is a set of replicas); other addresses are left to the gateway
to reach. Port 0 picks a free port; the gateway is told the ports the agents got.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from rich.console import Console

from agentmesh_cli.client import CliError
from agentmesh_cli.launch import LocalMesh
from agentmesh_cli.process import ServerProcess, StartFailed
from agentmesh_gateway.config import GatewayConfig
from agentmesh_services import AGENTS

console = Console()
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "0.0.0.0", "[::]")


def _local_port(address: str) -> int | None:
    host, _, port = address.rpartition(":")
    return int(port) if host in _LOCAL_HOSTS and port.isdigit() else None


def plan(config: GatewayConfig, *, log_dir: Path | None = None, log_level: str = "info") -> LocalMesh:
    """The mesh `config` describes: local addresses of shipped agents become processes."""
    env = {**os.environ, **({"AGENTMESH_LLM": config.llm} if config.llm else {})}
    levels = ["--log-level", log_level]
    mesh = LocalMesh(
        config.store,
        host=config.host,
        port=config.port,
        workflows=config.workflow_paths,
        env=env,
        log_dir=log_dir,
        gateway_args=levels,
    )
    for name, addresses in config.agents.items():
        for address in addresses:
            port = _local_port(address)
            if port is None or name not in AGENTS:
                mesh.add_remote(name, address)  # remote, or not ours to start: the gateway reaches it
            else:
                process = ServerProcess.agent(
                    name, port=port, env=env, log_file=mesh.log_file(name), extra=levels
                )
                mesh.add_agent(name, port, process)
    return mesh


async def up(config: GatewayConfig, *, log_dir: Path | None = None, log_level: str = "info") -> int:
    mesh = plan(config, log_dir=log_dir, log_level=log_level)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        try:
            await mesh.start()
        except (StartFailed, OSError, TimeoutError) as exc:
            hint = "" if log_dir else "\n(--logs DIR keeps every process's whole log)"
            raise CliError(f"the mesh did not come up: {exc}{hint}") from None
        for name, process in mesh.processes:
            console.print(f"[green]✓[/] {name:<15} 127.0.0.1:{process.port:<6} pid {process.pid}")
        where = f"; logs in {log_dir}" if log_dir else ""
        console.print(
            f"mesh is up: gateway at {mesh.target} (Ctrl-C stops everything){where}", highlight=False
        )
        await stopping.wait()
        codes = await mesh.stop()
        console.print(f"mesh stopped ({len(codes)} processes)")
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await mesh.stop()
