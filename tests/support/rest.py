"""The gateway's HTTP/JSON surface under test: a real gateway process with its HTTP port and the
probe agent, httpx clients of it, a reader of server-sent events, and the OpenAPI document the
gateway serves, against whose schemas responses are checked."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from agentmesh.client import Client
from agentmesh_cli.process import ServerProcess
from agentmesh_gateway.auth.static_tokens import new_token, token_hash
from tests.support.mesh import gateway_process, start_probe, step

SLOW: dict[str, Any] = {
    "name": "slow-greeting",
    "inputs": [{"name": "who", "required": True}, {"name": "ms", "default_value": 0}],
    "steps": [
        step("hello", "echo", {"key": "${inputs.who}-hello", "value": "${inputs.who}", "tokens": 7}),
        step("wait", "echo", {"key": "${inputs.who}-wait", "ms": "${inputs.ms}"}, dependencies=["hello"]),
        step("bye", "echo", {"key": "${inputs.who}-bye", "value": "bye", "tokens": 5}, dependencies=["wait"]),
    ],
    "outputs": {"said": "${steps.hello.output.value}"},
}
ASKING: dict[str, Any] = {
    "name": "asking",
    "inputs": [{"name": "key", "required": True}],
    "steps": [step("pick", "ask", {"key": "${inputs.key}", "question": "Which plan?"})],
}
WORKFLOWS = [SLOW, ASKING]
#: Principals of a gateway that checks tokens, and their roles.
ROLES = {"olga": "operator", "oscar": "operator", "vera": "viewer", "root": "admin"}


@dataclass
class SseEvent:
    id: str | None
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class SseStream:
    """What one SSE response carried: its events and how many heartbeat comments came between."""

    status: int
    headers: httpx.Headers
    events: list[SseEvent] = field(default_factory=list)
    comments: int = 0


@dataclass
class RestGateway:
    process: ServerProcess
    probe: ServerProcess
    workdir: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.process.logged('http listening')[0]['port']}"

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.process.port}"

    def http(self, token: str | None = None, **options: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=60, **options)

    @asynccontextmanager
    async def mesh(self, token: str | None = None) -> AsyncIterator[Client]:
        """A gRPC client: what the HTTP surface did, seen through the gateway's own API."""
        async with await Client.connect(self.target, token=token) as client:
            yield client


def write_workflows(directory: Path, flows: Sequence[Mapping[str, Any]] = WORKFLOWS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for number, flow in enumerate(flows):
        (directory / f"flow{number}.yaml").write_text(json.dumps(flow))  # JSON is YAML
    return directory


def write_tokens(path: Path) -> dict[str, str]:
    tokens = {name: new_token() for name in ROLES}
    entries = [{"name": n, "role": ROLES[n], "sha256": token_hash(t)} for n, t in tokens.items()]
    path.write_text(json.dumps({"tokens": entries}))
    return tokens


def gateway_args(workdir: Path, extra: Sequence[str] = ()) -> list[str]:
    flows = write_workflows(workdir / "workflows")
    return ["--http-port", "0", "--workflows", str(flows), "--http-heartbeat", "0.3", *extra]


@asynccontextmanager
async def rest_gateway(
    workdir: Path, extra: Sequence[str] = (), *, secured: bool = False, store: Path | None = None
) -> AsyncIterator[RestGateway]:
    """A gateway with its HTTP port (heartbeats every 0.3 s) and the probe agent behind it;
    `secured`: tokens for ROLES, and tenant isolation."""
    probe = await start_probe(workdir / "probe.jsonl")
    tokens: dict[str, str] = {}
    args = list(extra)
    if secured:
        tokens = write_tokens(workdir / "tokens.yaml")
        args += ["--auth-tokens", str(workdir / "tokens.yaml"), "--tenant-isolation"]
    process = gateway_process(
        store or workdir / "runs.db", {"probe": [probe.port]}, gateway_args(workdir, args)
    )
    try:
        await process.start()
        admin = tokens.get("root")
        async with (
            await Client.connect(f"127.0.0.1:{process.port}", token=admin) as client,
            asyncio.timeout(30),
        ):
            while not any(agent.skills for agent in await client.list_agents()):
                await asyncio.sleep(0.05)  # the probe is SERVING: runs go straight to it
        yield RestGateway(process, probe, workdir, tokens)
    finally:
        await process.stop()
        await probe.stop()


async def read_sse(response: httpx.Response, until: int | None = None) -> AsyncIterator[SseEvent | None]:
    """The events of an SSE response as they come (None for each comment), by the WHATWG rules
    this surface uses: `field: value` lines, a blank line ends an event, `:` starts a comment."""
    fields: dict[str, list[str]] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield None
            continue
        if not line:
            if fields:
                data = "\n".join(fields.get("data", []))
                ids = fields.get("id")
                yield SseEvent(ids[-1] if ids else None, (fields.get("event") or ["message"])[-1], data)
                fields = {}
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value.removeprefix(" "))


async def collect_sse(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    stop_after: int | None = None,
    **options: Any,
) -> SseStream:
    """The whole SSE response (or its first `stop_after` events, then the connection is dropped)."""
    async with client.stream(method, path, headers=dict(headers or {}), **options) as response:
        stream = SseStream(response.status_code, response.headers)
        if response.status_code != 200:
            await response.aread()
            stream.events.append(SseEvent(None, "problem", response.text))
            return stream
        async for item in read_sse(response):
            if item is None:
                stream.comments += 1
                continue
            stream.events.append(item)
            if stop_after is not None and len(stream.events) >= stop_after:
                break
    return stream


class Contract:
    """The OpenAPI document a gateway serves, to check what it answers against its schemas."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def schema(self, name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{name}", "components": self.document["components"]}

    def check(self, name: str, instance: Any) -> None:
        """Raises jsonschema's ValidationError unless `instance` fits the component `name`."""
        Draft202012Validator(self.schema(name)).validate(instance)

    def operation(self, path: str, verb: str) -> dict[str, Any]:
        found: dict[str, Any] = self.document["paths"][path][verb]
        return found

    def response_schema(self, path: str, verb: str) -> str:
        """The component a 200 answer of the operation is (for a stream: each event's data)."""
        content = self.operation(path, verb)["responses"]["200"]["content"]
        media = content.get("application/json") or content["text/event-stream"]
        ref = media.get("x-event-data", media.get("schema"))
        return str(ref["$ref"]).rsplit("/", 1)[1]

    def check_answer(self, path: str, verb: str, response: httpx.Response) -> None:
        """The answer fits the operation's document: its 200 schema, or the problem schema."""
        if response.status_code == 200:
            self.check(self.response_schema(path, verb), response.json())
        else:
            assert response.headers["content-type"] == "application/problem+json", response.text
            self.check("Problem", response.json())
