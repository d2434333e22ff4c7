"""Every hop over mutual TLS: the CLI to the gateway, the gateway to Go and TypeScript agents that
accept the mesh's certificates only; and the gateway's own trust renewed without a restart."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentmesh.client import Client, ReplicaHealth
from agentmesh_cli.process import ServerProcess
from tests.support.certs import Identity, SecretVolume, authority, credentials, health_over, issue
from tests.support.mesh import run_cli

AGENTS = ("trend-scanner", "video-scriptor", "post-scheduler")


async def start_agents(identity: Identity) -> list[ServerProcess]:
    env = {
        **os.environ,
        "AGENTMESH_TLS_CERT": str(identity.cert),
        "AGENTMESH_TLS_KEY": str(identity.key),
        "AGENTMESH_TLS_CLIENT_CA": str(identity.ca),
    }
    agents = [ServerProcess.agent(name, env=env) for name in AGENTS]
    await asyncio.gather(*(agent.start() for agent in agents))
    return agents


def gateway_args(agents: list[ServerProcess], store: Path, gateway: Identity, trust: Path) -> list[str]:
    args = [sys.executable, "-m", "agentmesh_cli", "gateway", "--port", "0", "--store", str(store)]
    args += ["--tls-cert", str(gateway.cert), "--tls-key", str(gateway.key)]
    args += ["--tls-client-ca", str(gateway.ca), "--tls-ca", str(trust)]
    for name, agent in zip(AGENTS, agents, strict=True):
        args += ["--agent", f"{name}=127.0.0.1:{agent.port}"]
    return args


async def serving_agents(client: Client) -> set[str]:
    return {
        agent.name
        for agent in await client.list_agents()
        if any(r.health == ReplicaHealth.SERVING for r in agent.replicas)
    }


@pytest.mark.slow
async def test_a_run_over_mutual_tls_end_to_end(tmp_path: Path) -> None:
    ca, ca_file = authority(tmp_path, "mesh")
    agents = await start_agents(issue(ca, ca_file, tmp_path, "agent"))
    volume = SecretVolume(tmp_path / "gateway-tls")
    gateway_identity = volume.hold(issue(ca, ca_file, tmp_path, "gateway"))
    # The gateway starts trusting the wrong CA for its agents: it cannot reach any of them.
    _, wrong_ca = authority(tmp_path, "wrong")
    trust = tmp_path / "agents-ca.crt"
    trust.write_bytes(wrong_ca.read_bytes())
    gateway = ServerProcess(
        gateway_args(agents, tmp_path / "runs.db", gateway_identity, trust), name="gateway"
    )
    await gateway.start()
    try:
        target = f"127.0.0.1:{gateway.port}"
        assert gateway.logged("listening")[0]["tls"] == "mutual"
        cli = issue(ca, ca_file, tmp_path, "cli")
        assert await health_over(target, None) == "UNAVAILABLE"
        assert await health_over(target, credentials(ca_file)) == "UNAVAILABLE"  # no client certificate
        async with await Client.connect(target, tls=credentials(ca_file, cli)) as client:
            await asyncio.sleep(1)
            assert await serving_agents(client) == set()
            # The CA bundle is corrected in place: new channels, without a restart.
            trust.write_bytes(ca_file.read_bytes())
            async with asyncio.timeout(30):
                while await serving_agents(client) != set(AGENTS):
                    await asyncio.sleep(0.2)
        assert gateway.logged("reconnecting to agents with renewed TLS files")

        env = {**os.environ, "AGENTMESH_TLS_CERT": str(cli.cert), "AGENTMESH_TLS_KEY": str(cli.key)}
        run = run_cli(
            "--tls-ca", str(ca_file), "run", "trend-analysis", "--json", "-i", "topic=robots",
            "--gateway", target, env=env,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        assert "run_completed" in json.loads(run.stdout.splitlines()[-1])

        # grpcurl as the README shows it: the mesh's CA, a client certificate.
        grpcurl = shutil.which("grpcurl")
        if grpcurl is not None:  # `make test` installs it
            listed = await asyncio.to_thread(
                subprocess.run,
                [grpcurl, "-cacert", str(ca_file), "-cert", str(cli.cert), "-key", str(cli.key),
                 target, "agentmesh.v1.OrchestratorService/ListAgents"],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            assert listed.returncode == 0 and "REPLICA_HEALTH_SERVING" in listed.stdout, listed.stderr

        # Without a client certificate, or without TLS, the CLI is refused in one line.
        bare = {k: v for k, v in env.items() if k not in ("AGENTMESH_TLS_CERT", "AGENTMESH_TLS_KEY")}
        for args, env_used in (
            (["--tls-ca", str(ca_file), "runs", "--gateway", target], bare),
            (["runs", "--gateway", target], bare),
        ):
            refused = run_cli(*args, env=env_used, timeout=60)
            assert refused.returncode == 1, refused.stdout + refused.stderr
            assert "cannot reach the gateway" in refused.stderr
            assert "Traceback" not in refused.stderr
    finally:
        await gateway.stop()
        await asyncio.gather(*(agent.stop() for agent in agents))
