"""The web console in a real browser: Debian's Chromium driven by Playwright, against a real gateway
(its HTTP port, the console's files as `make install` built them) and the probe agent, each its own
process. A few workflows of probe steps are registered on the gateway, so that runs can be started
from the console's own forms."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from agentmesh.client import Client
from agentmesh_cli.process import ServerProcess
from agentmesh_gateway.auth.static_tokens import new_token, token_hash
from agentmesh_gateway.console import STATIC
from tests.support import ROOT
from tests.support.mesh import gateway_process, start_probe

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "docs" / "console"
# What a test waits for, it waits for this long at most: the machine may be busy.
expect.set_options(timeout=30_000)

#: The workflows the console starts and shows (probe steps: echo sleeps `ms`, ask asks, fail fails).
WORKFLOWS = {
    "pipeline": """
name: pipeline
description: Fetch, then two branches at once, then join them.
inputs:
  - {name: key, description: A label for the run., required: true}
  - {name: ms, description: How long each step sleeps (ms)., default_value: 300}
steps:
  - {id: fetch, agent: probe, skill: echo, input: {key: "${inputs.key}-fetch", ms: "${inputs.ms}"}}
  - id: left
    agent: probe
    skill: echo
    dependencies: [fetch]
    input: {key: "${inputs.key}-left", ms: "${inputs.ms}"}
  - id: right
    agent: probe
    skill: echo
    dependencies: [fetch]
    input: {key: "${inputs.key}-right", ms: "${inputs.ms}"}
  - id: join
    agent: probe
    skill: echo
    dependencies: [left, right]
    input: {key: "${inputs.key}-join", value: "${steps.left.output.key}"}
""",
    "showcase": """
name: showcase
description: A plan, a fan-out over its items, a flaky check that is retried, a report.
inputs:
  - {name: key, required: true}
steps:
  - id: plan
    agent: probe
    skill: echo
    input: {key: "${inputs.key}-plan", value: [solar, wind, tides], ms: 300}
  - id: research
    agent: probe
    skill: echo
    dependencies: [plan]
    for_each: ${steps.plan.output.value}
    input: {key: "${inputs.key}-${item}", value: "${item}", ms: 500}
  - id: verify
    agent: probe
    skill: flaky
    dependencies: [research]
    retry: {max_attempts: 3, initial_delay: 0.4s}
    input: {key: "${inputs.key}-verify", succeed_on: 2}
  - id: report
    agent: probe
    skill: echo
    dependencies: [verify]
    input: {key: "${inputs.key}-report", ms: 200}
""",
    "slow": """
name: slow
description: One step that takes a minute.
inputs:
  - {name: key, required: true}
steps:
  - {id: wait, agent: probe, skill: echo, input: {key: "${inputs.key}", ms: 60000}}
""",
    "breaks": """
name: breaks
description: A step that fails for good.
inputs:
  - {name: key, required: true}
steps:
  - {id: prepare, agent: probe, skill: echo, input: {key: "${inputs.key}"}}
  - id: explode
    agent: probe
    skill: fail
    dependencies: [prepare]
    input: {code: INVALID_ARGUMENT, message: the widget is broken}
""",
    "asks": """
name: asks
description: A step whose agent asks which one before it answers.
inputs:
  - {name: key, required: true}
steps:
  - {id: choose, agent: probe, skill: ask, input: {key: "${inputs.key}", question: "Which widget?"}}
  - {id: after, agent: probe, skill: echo, dependencies: [choose], input: {key: "${inputs.key}-after"}}
""",
    "chain": """
name: chain
description: Five steps one after the other, 700 ms each.
inputs:
  - {name: key, required: true}
steps:
  - {id: one, agent: probe, skill: echo, input: {key: "${inputs.key}-1", ms: 700}}
  - {id: two, agent: probe, skill: echo, dependencies: [one], input: {key: "${inputs.key}-2", ms: 700}}
  - {id: three, agent: probe, skill: echo, dependencies: [two], input: {key: "${inputs.key}-3", ms: 700}}
  - {id: four, agent: probe, skill: echo, dependencies: [three], input: {key: "${inputs.key}-4", ms: 700}}
  - {id: five, agent: probe, skill: echo, dependencies: [four], input: {key: "${inputs.key}-5", ms: 700}}
""",
}


def free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


@dataclass
class ConsoleMesh:
    """A gateway with its HTTP port on, the probe agent behind it, and the tokens it takes."""

    workdir: Path
    probe: ServerProcess
    gateway: ServerProcess
    args: list[str]
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def http_port(self) -> int:
        return int(self.gateway.logged("http listening")[0]["port"])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.gateway.port}"

    def client(self, who: str | None = None) -> Client:
        import grpc

        token = self.tokens[who] if who else None
        return Client(grpc.aio.insecure_channel(self.target), self.target, token=token)

    async def start(self, workflow: str, inputs: dict[str, Any], who: str | None = None) -> str:
        async with self.client(who) as client:
            return (await client.start(workflow, inputs)).run_id

    async def restart(self) -> None:
        """kill -9, then a new gateway on the same ports and store."""
        await self.gateway.kill()
        self.gateway = gateway_process(self.workdir / "runs.db", {}, self.args)
        await self.gateway.start()


def write_workflows(workdir: Path, extra: dict[str, str] | None = None) -> Path:
    flows = workdir / "flows"
    flows.mkdir(exist_ok=True)
    for name, text in {**WORKFLOWS, **(extra or {})}.items():
        (flows / f"{name}.yaml").write_text(text)
    return flows


@contextlib.asynccontextmanager
async def console_mesh(
    workdir: Path,
    *,
    tokens: dict[str, str] | None = None,
    fixed_ports: bool = False,
    workflows: dict[str, str] | None = None,
    mesh_file: str | None = None,
) -> AsyncIterator[ConsoleMesh]:
    """`tokens`: name → role; each gets a token and the gateway checks them. `workflows`: more
    workflow files (name → YAML); `mesh_file`: a mesh file's text (agents' limits, prices) the
    gateway starts with (its `--agent` flag still says where the probe is)."""
    assert (STATIC / "index.html").is_file(), "the console is not built: run `make install`"
    probe = await start_probe(workdir / "probe.jsonl")
    grpc_port, http_port = free_ports(2) if fixed_ports else (0, 0)
    args = [
        "--agent", f"probe=127.0.0.1:{probe.port}",
        "--workflows", str(write_workflows(workdir, workflows)),
        "--http-port", str(http_port),
        "--port", str(grpc_port),
        "--store", str(workdir / "runs.db"),
    ]  # fmt: skip
    if mesh_file is not None:
        (workdir / "mesh.yaml").write_text(mesh_file)
        args += ["--config", str(workdir / "mesh.yaml")]
    secrets: dict[str, str] = {}
    if tokens:
        secrets = {name: new_token() for name in tokens}
        entries = [{"name": n, "role": tokens[n], "sha256": token_hash(t)} for n, t in secrets.items()]
        (workdir / "tokens.yaml").write_text(json.dumps({"tokens": entries}))
        args += ["--auth-tokens", str(workdir / "tokens.yaml")]
    gateway = gateway_process(workdir / "runs.db", {}, args)
    await gateway.start()
    mesh = ConsoleMesh(workdir, probe, gateway, args, secrets)
    try:
        yield mesh
    finally:
        await mesh.gateway.stop()
        await probe.stop()


@pytest.fixture(scope="session")
def chromium() -> Path:
    assert CHROMIUM.exists(), "Debian's chromium is missing: `make install` (or apt-get install chromium)"
    return CHROMIUM


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium))
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleMesh]:
    """A gateway without authentication: no sign-in, every control shown."""
    async with console_mesh(tmp_path_factory.mktemp("console")) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    opened = await browser.new_context(
        viewport={"width": 1400, "height": 1000}, locale="en-GB", timezone_id="UTC"
    )
    try:
        yield opened
    finally:
        await opened.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    """A page that fails the test on any script error or console error (a CSP violation is one)."""
    opened = await context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    opened.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" and not _expected(message.text)
            else None
        ),
    )
    yield opened
    assert not problems, problems


def _expected(text: str) -> bool:
    """Console errors a test provokes on purpose: a refused token (401), a gateway that is down
    while it restarts (the event stream reconnects), a form the gateway refuses (400, its field
    violations shown by the fields)."""
    return any(
        part in text
        for part in (
            "401",
            "Unauthorized",
            "ERR_CONNECTION_REFUSED",
            "ERR_EMPTY_RESPONSE",
            "net::ERR_",
            "status of 400 (Bad Request)",
        )
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{os.urandom(4).hex()}"
