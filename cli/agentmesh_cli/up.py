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
from pathlib import Path

import yaml
from rich.console import Console

from agentmesh_cli.client import CliError
from agentmesh_cli.elsewhere import unavailable
from agentmesh_cli.launch import LocalMesh
from agentmesh_cli.process import ServerProcess, StartFailed
from agentmesh_gateway.config import GatewayConfig
from agentmesh_services import AGENTS

console = Console()
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "0.0.0.0", "[::]")


def _local_port(address: str) -> int | None:
    host, _, port = address.rpartition(":")
    return int(port) if host in _LOCAL_HOSTS and port.isdigit() else None


def commands(mesh_file: Path | None) -> dict[str, tuple[list[str], Path]]:
    """How `up` starts each agent it may start: the shipped agents as their mesh file says, and
    any agent a user's mesh file gives a `run` command (run from the file's `root`, else its
    directory; `python` is this interpreter)."""
    known = {name: (entry.argv(), entry.root) for name, entry in AGENTS.items()}
    if mesh_file is None:
        return known
    data = yaml.safe_load(mesh_file.read_text()) or {}
    root = (mesh_file.parent / str(data.get("root", "."))).resolve()
    for name, entry in (data.get("agents") or {}).items():
        if isinstance(entry, dict) and isinstance(entry.get("run"), list):
            argv = [sys.executable if part == "python" else str(part) for part in entry["run"]]
            known[str(name)] = (argv, root)
    return known


def plan(
    config: GatewayConfig,
    *,
    mesh_file: Path | None = None,
    log_dir: Path | None = None,
    log_level: str = "info",
) -> LocalMesh:
    """The mesh `config` describes: local addresses of agents `up` knows how to start become processes."""
    env = {**os.environ, **({"AGENTMESH_LLM": config.llm} if config.llm else {})}
    levels = ["--log-level", log_level]
    http = ["--http-port", str(config.http_port)] if config.http_port is not None else []
    # The gateway reads the mesh file itself for what has no flag (agents' limits, prices,
    # schedules, auth); the flags `up` adds after it (agents' ports, store) win over the file.
    from_file = ["--config", str(mesh_file)] if mesh_file is not None else []
    # Every process serves Prometheus metrics, on a port of its choosing unless the file names
    # the gateway's; `up` prints where each listens.
    metrics = ["--metrics-port", str(config.metrics_port if config.metrics_port is not None else 0)]
    mesh = LocalMesh(
        config.store,
        host=config.host,
        port=config.port,
        workflows=config.workflow_paths,
        env=env,
        log_dir=log_dir,
        gateway_args=[*from_file, *levels, *http, *metrics],
    )
    startable = commands(mesh_file)
    for name, addresses in config.agents.items():
        for address in addresses:
            port = _local_port(address)
            if port is None or name not in startable:
                mesh.add_remote(name, address)  # remote, or not ours to start: the gateway reaches it
                continue
            argv, root = startable[name]
            why = unavailable(name, argv, root, port)
            if why is not None:
                mesh.add_unavailable(name, why)  # a wheel's Go and TypeScript agents: said, not fatal
                continue
            process = ServerProcess(
                [*argv, "--host", "127.0.0.1", "--port", str(port), *levels, "--metrics-port", "0"],
                env,
                name=name,
                log_file=mesh.log_file(name),
                cwd=root,
            )
            mesh.add_agent(name, port, process)
    return mesh


async def metrics_port(process: ServerProcess, wait: float = 3.0) -> int | None:
    """The port a process said it serves metrics on (its "metrics listening" log line)."""
    deadline = asyncio.get_running_loop().time() + wait
    while not (said := process.logged("metrics listening")):
        if asyncio.get_running_loop().time() > deadline:
            return None
        await asyncio.sleep(0.02)
    port = said[0].get("port")
    return port if isinstance(port, int) else None


async def up(
    config: GatewayConfig,
    *,
    mesh_file: Path | None = None,
    log_dir: Path | None = None,
    log_level: str = "info",
) -> int:
    mesh = plan(config, mesh_file=mesh_file, log_dir=log_dir, log_level=log_level)
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
            metrics = await metrics_port(process)
            scrape = f"  metrics 127.0.0.1:{metrics}/metrics" if metrics else ""
            console.print(f"[green]✓[/] {name:<15} 127.0.0.1:{process.port:<6} pid {process.pid:<8}{scrape}")
        for name, why in mesh.unavailable.items():
            console.print(f"[yellow]✗[/] {name:<15} not started: {why}", highlight=False, soft_wrap=True)
        for workflow, agents in (await mesh.blocked_workflows()).items():
            console.print(
                f"  workflow {workflow} cannot run here: it needs {', '.join(agents)}",
                highlight=False,
                soft_wrap=True,
            )
        where = f"; logs in {log_dir}" if log_dir else ""
        web = f", console at {mesh.console}" if mesh.console else ""
        console.print(
            f"mesh is up: gateway at {mesh.target}{web} (Ctrl-C stops everything){where}", highlight=False
        )
        await stopping.wait()
        codes = await mesh.stop()
        console.print(f"mesh stopped ({len(codes)} processes)")
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await mesh.stop()
