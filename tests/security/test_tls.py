"""TLS and mutual TLS on every agent runtime, renewed certificates picked up without a restart,
and the plaintext warning: each agent started as its own process, as a pod runs it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from agentmesh_cli.process import ServerProcess, StartFailed
from tests.support.certs import SecretVolume, authority, credentials, health_over, issue

RUNTIMES = {"python": "researcher", "typescript": "video-scriptor", "go": "trend-scanner"}
PLAINTEXT_WARNING = "serving plaintext on a non-loopback address"


async def eventually(check: Callable[[], Awaitable[str]], want: str, timeout: float = 20) -> str:
    """Poll a health check until it answers `want` (a new handshake each time); the last answer."""
    answer = ""
    async with asyncio.timeout(timeout):
        while (answer := await check()) != want:
            await asyncio.sleep(0.2)
    return answer


@pytest.mark.parametrize("agent", RUNTIMES.values(), ids=RUNTIMES.keys())
async def test_agent_demands_client_certificates_and_picks_up_a_renewed_one(
    agent: str, tmp_path: Path
) -> None:
    mesh_ca, mesh_ca_file = authority(tmp_path, "mesh")
    other_ca, other_ca_file = authority(tmp_path, "other")
    volume = SecretVolume(tmp_path / "secret")
    served = volume.hold(issue(mesh_ca, mesh_ca_file, tmp_path, "agent"))
    gateway = issue(mesh_ca, mesh_ca_file, tmp_path, "gateway")
    stranger = issue(other_ca, other_ca_file, tmp_path, "stranger")
    # Certificate and key as flags, the client CA from the environment: both routes, every runtime.
    env = {**os.environ, "AGENTMESH_TLS_CLIENT_CA": str(served.ca)}
    process = ServerProcess.agent(
        agent, env=env, extra=["--tls-cert", str(served.cert), "--tls-key", str(served.key)]
    )
    await process.start()
    try:
        target = f"127.0.0.1:{process.port}"
        assert process.logged("listening")[0]["tls"] == "mutual"
        assert await health_over(target, credentials(mesh_ca_file, gateway)) == "SERVING"
        assert await health_over(target, credentials(mesh_ca_file)) == "UNAVAILABLE"  # no certificate
        assert await health_over(target, credentials(mesh_ca_file, stranger)) == "UNAVAILABLE"
        assert await health_over(target, None) == "UNAVAILABLE"  # plaintext

        # cert-manager renews the Secret; this time another CA signs the agent's certificate.
        (tmp_path / "renewed").mkdir()
        renewed = issue(other_ca, other_ca_file, tmp_path / "renewed", "agent")
        volume.write({"tls.crt": renewed.cert.read_bytes(), "tls.key": renewed.key.read_bytes()})

        def new_trust() -> Awaitable[str]:
            return health_over(target, credentials(other_ca_file, gateway))

        assert await eventually(new_trust, "SERVING") == "SERVING"
        assert await health_over(target, credentials(mesh_ca_file, gateway)) == "UNAVAILABLE"
        assert process.returncode is None
        assert process.logged("reloaded the TLS certificate")
    finally:
        assert await process.stop() == 0


@pytest.mark.parametrize("agent", RUNTIMES.values(), ids=RUNTIMES.keys())
async def test_a_broken_renewal_keeps_the_previous_certificate(agent: str, tmp_path: Path) -> None:
    ca, ca_file = authority(tmp_path, "mesh")
    volume = SecretVolume(tmp_path / "secret")
    served = volume.hold(issue(ca, ca_file, tmp_path, "agent"))
    process = ServerProcess.agent(agent, extra=["--tls-cert", str(served.cert), "--tls-key", str(served.key)])
    await process.start()
    try:
        target = f"127.0.0.1:{process.port}"
        assert process.logged("listening")[0]["tls"] == "on"
        other = issue(ca, ca_file, tmp_path, "other")
        # A key that is not the certificate's: a half-finished rotation.
        volume.write({"tls.crt": served.cert.read_bytes(), "tls.key": other.key.read_bytes()})
        async with asyncio.timeout(20):
            while not process.logged("cannot reload the TLS certificate; keeping the previous one"):
                await health_over(target, credentials(ca_file))  # a handshake makes Python look
                await asyncio.sleep(0.2)
        assert await health_over(target, credentials(ca_file)) == "SERVING"
    finally:
        assert await process.stop() == 0


@pytest.mark.parametrize("agent", RUNTIMES.values(), ids=RUNTIMES.keys())
async def test_plaintext_beyond_loopback_is_warned_about_once(agent: str, tmp_path: Path) -> None:
    ca, ca_file = authority(tmp_path, "mesh")
    identity = issue(ca, ca_file, tmp_path, "agent")
    tls = ["--tls-cert", str(identity.cert), "--tls-key", str(identity.key)]
    cases = {("127.0.0.1", ()): 0, ("0.0.0.0", ()): 1, ("0.0.0.0", tuple(tls)): 0}
    for (host, extra), warnings in cases.items():
        process = ServerProcess.agent(agent, host=host, extra=extra)
        await process.start()
        await process.stop()
        said = [entry for entry in process.logs if PLAINTEXT_WARNING in str(entry.get("msg", ""))]
        assert len(said) == warnings, (host, extra, process.logs)
        if said:
            assert said[0]["level"] == "warning"


@pytest.mark.parametrize("agent", RUNTIMES.values(), ids=RUNTIMES.keys())
async def test_half_a_tls_configuration_is_refused_at_start(agent: str, tmp_path: Path) -> None:
    ca, ca_file = authority(tmp_path, "mesh")
    identity = issue(ca, ca_file, tmp_path, "agent")
    process = ServerProcess.agent(agent, extra=["--tls-cert", str(identity.cert)])
    with pytest.raises(StartFailed, match=r"exited with code [12]"):
        await process.start()
    assert "key" in " ".join(str(entry) for entry in process.logs)
