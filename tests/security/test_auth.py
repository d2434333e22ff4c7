"""The gateway's authentication and authorization, against a real gateway process: static tokens
and OIDC JWTs (JWKS file, rotation), roles, tenant isolation, identity forwarded to agents, and
no secret in any log line or stored byte."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from agentmesh.client import Caller, Client, Run
from agentmesh.errors import AgentMeshError, NotFound, PermissionDenied, Unauthenticated
from agentmesh_cli.process import ServerProcess
from agentmesh_gateway.auth import Principal, Role
from agentmesh_gateway.auth.static_tokens import StaticTokens, new_token, token_hash
from tests.support.certs import health_over
from tests.support.mesh import gateway_process, list_services, probe_log, run_cli, start_probe, step, workflow

ISSUER, AUDIENCE = "https://login.example.test/realms/mesh", "agentmesh"
ECHO = workflow({"name": "echo", "steps": [step("a", "echo", {"key": "a", "value": 1})]})
SLOW = workflow({"name": "slow", "steps": [step("a", "echo", {"key": "slow", "ms": 30_000})]})
FAKE_API_KEY = "AIzaSy-not-a-real-key-0123456789abcdef"


def rsa_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks(keys: dict[str, RSAPrivateKey]) -> str:
    entries = []
    for kid, key in keys.items():
        entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        entries.append({**entry, "kid": kid, "alg": "RS256", "use": "sig"})
    return json.dumps({"keys": entries})


def write_atomically(path: Path, text: str) -> None:
    fresh = path.with_suffix(".new")
    fresh.write_text(text)
    os.replace(fresh, path)


@dataclass
class Secured:
    target: str
    tokens: dict[str, str]
    keys: dict[str, RSAPrivateKey]
    workdir: Path
    gateway: ServerProcess
    probe: ServerProcess
    secrets: list[str] = field(default_factory=list)

    def jwt(self, sub: str = "jane", roles: Any = ("operator",), kid: str = "k1", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 300, "roles": roles}
        body.update(claims)
        token = jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})
        self.secrets.append(token)
        return token

    def client(self, token: str | None) -> Client:
        return Client(grpc.aio.insecure_channel(self.target), self.target, token=token)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def secured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Secured]:
    workdir = tmp_path_factory.mktemp("auth")
    tokens = {name: new_token() for name in ("alice", "bob", "vera", "root")}
    roles = {"alice": "operator", "bob": "operator", "vera": "viewer", "root": "admin"}
    entries = [{"name": n, "role": roles[n], "sha256": token_hash(t)} for n, t in tokens.items()]
    (workdir / "tokens.yaml").write_text(json.dumps({"tokens": entries}))
    keys = {"k1": rsa_key()}
    (workdir / "jwks.json").write_text(jwks(keys))
    probe = await start_probe(workdir / "probe.jsonl")
    args = [
        "--auth-tokens", str(workdir / "tokens.yaml"), "--jwks", str(workdir / "jwks.json"),
        "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE, "--tenant-isolation",
    ]  # fmt: skip
    gateway = gateway_process(workdir / "runs.db", {"probe": [probe.port]}, args)
    gateway.env = {**os.environ, "GEMINI_API_KEY": FAKE_API_KEY}
    await gateway.start()
    secured = Secured(f"127.0.0.1:{gateway.port}", tokens, keys, workdir, gateway, probe)
    secured.secrets += [*tokens.values(), FAKE_API_KEY]
    try:
        yield secured
    finally:
        await gateway.stop()
        await probe.stop()


async def runs(client: Client) -> list[Run]:
    return [run async for run in client.list_runs()]


async def refusal(secured: Secured, token: str | None) -> AgentMeshError:
    async with secured.client(token) as client:
        with pytest.raises(AgentMeshError) as caught:
            await client.list_agents()
    return caught.value


async def test_health_and_reflection_need_no_token(secured: Secured) -> None:
    assert await health_over(secured.target, None) == "SERVING"
    async with grpc.aio.insecure_channel(secured.target) as channel:
        assert "agentmesh.v1.OrchestratorService" in await list_services(channel)
    assert secured.gateway.logged("listening")[0]["auth"] == "tokens+jwt, tenant isolation"


async def test_each_way_to_fail_authentication(secured: Secured) -> None:
    stranger_key = rsa_key()
    now = int(time.time())
    forged = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": now + 300, "roles": ["admin"]},
        stranger_key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    unsigned = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "m", "exp": now + 300}, "", algorithm="none"
    )
    cases: dict[str, tuple[str | None, str]] = {
        "no token": (None, "MISSING_CREDENTIALS"),
        "unknown static token": (new_token(), "INVALID_TOKEN"),
        "garbage": ("not-a-token", "INVALID_TOKEN"),
        "expired": (secured.jwt(exp=now - 3600, iat=now - 7200), "TOKEN_EXPIRED"),
        "wrong issuer": (secured.jwt(iss="https://evil.example.test/"), "INVALID_TOKEN"),
        "wrong audience": (secured.jwt(aud="someone-else"), "INVALID_TOKEN"),
        "forged signature": (forged, "INVALID_TOKEN"),
        "unknown key id": (
            jwt.encode({"iss": ISSUER}, stranger_key, algorithm="RS256", headers={"kid": "k9"}),
            "INVALID_TOKEN",
        ),
        "alg none": (unsigned, "INVALID_TOKEN"),
    }
    for case, (token, reason) in cases.items():
        error = await refusal(secured, token)
        assert isinstance(error, Unauthenticated), (case, error)
        assert error.reason == reason, (case, error.reason, error.message)
    no_role = await refusal(secured, secured.jwt(roles=["reader"]))
    assert isinstance(no_role, PermissionDenied) and no_role.reason == "NO_ROLE"


async def test_roles_decide_what_a_caller_may_do(secured: Secured) -> None:
    async with secured.client(secured.tokens["vera"]) as viewer:
        await runs(viewer)
        await viewer.list_agents()
        with pytest.raises(PermissionDenied) as denied:
            await viewer.start(ECHO)
        assert denied.value.reason == "ROLE_REQUIRED"
        assert denied.value.metadata == {"principal": "vera", "role": "viewer", "required": "operator"}
    async with secured.client(secured.jwt(sub="jane", roles=["viewer", "operator"])) as operator:
        run = await (await operator.start(ECHO)).result()
        assert run.principal == "jane"


async def test_get_caller_says_who_the_token_is_and_what_it_may_do(secured: Secured) -> None:
    async with secured.client(secured.tokens["vera"]) as viewer:
        assert await viewer.caller() == Caller("vera", "viewer", authenticated=True, tenant_isolation=True)
    async with secured.client(secured.jwt(sub="jane", roles=["operator"])) as operator:
        assert (await operator.caller()).role == "operator"
    async with secured.client(secured.tokens["root"]) as admin:
        assert await admin.caller() == Caller("root", "admin", authenticated=True, tenant_isolation=False)
    assert isinstance(await refusal(secured, None), Unauthenticated)


async def test_a_rotated_signing_key_is_used_without_a_restart(secured: Secured) -> None:
    old = secured.jwt(sub="rotating")
    secured.keys["k2"] = rsa_key()
    write_atomically(secured.workdir / "jwks.json", jwks({"k2": secured.keys["k2"]}))
    async with secured.client(secured.jwt(sub="rotating", kid="k2")) as client:
        await client.list_agents()  # the new key: its kid makes the gateway look at the file at once
    await asyncio.sleep(1.1)  # the retired key's tokens fail once the file has been looked at again
    assert isinstance(await refusal(secured, old), Unauthenticated)
    write_atomically(secured.workdir / "jwks.json", jwks(secured.keys))  # both again, for other tests


async def test_a_token_added_to_the_file_works_without_a_restart(secured: Secured) -> None:
    token = new_token()
    secured.secrets.append(token)
    tokens_file = secured.workdir / "tokens.yaml"
    data = json.loads(tokens_file.read_text())
    data["tokens"].append({"name": "late", "role": "viewer", "sha256": token_hash(token)})
    write_atomically(tokens_file, json.dumps(data))
    async with asyncio.timeout(10), secured.client(token) as client:
        while True:
            try:
                await client.list_agents()
                break
            except Unauthenticated:
                await asyncio.sleep(0.2)


async def test_tenants_see_watch_and_cancel_only_their_own_runs(secured: Secured) -> None:
    async with (
        secured.client(secured.tokens["alice"]) as alice,
        secured.client(secured.tokens["bob"]) as bob,
        secured.client(secured.tokens["root"]) as root,
    ):
        mine = await alice.start(SLOW, request_id="same-key")
        theirs = await bob.start(ECHO, request_id="same-key")
        # One request_id, two principals: two runs (an idempotency key is per principal).
        assert mine.run_id != theirs.run_id
        assert (await alice.start(SLOW, request_id="same-key")).run_id == mine.run_id
        await theirs.result()
        assert mine.run_id not in {r.run_id for r in await runs(bob)}
        assert {r.principal for r in await runs(alice)} == {"alice"}
        for attempt in (
            bob.get_run(mine.run_id),
            bob.handle(mine.run_id).cancel("not yours"),
            anext(bob.handle(mine.run_id).events(reconnect_for=0)),
        ):
            with pytest.raises(NotFound):
                await attempt
        assert (await alice.get_run(mine.run_id)).state.name == "RUNNING"
        everyone = {r.principal for r in await runs(root)}
        assert {"alice", "bob"} <= everyone
        cancelled = await root.handle(mine.run_id).cancel("admin may")
        assert cancelled.principal == "alice"
    # The agent was told whom each step worked for.
    forwarded = {(r["key"], r["principal"]) for r in probe_log(secured.workdir / "probe.jsonl")}
    assert ("slow", "alice") in forwarded and ("a", "bob") in forwarded


async def test_chat_sessions_belong_to_their_principal(secured: Secured) -> None:
    async with (
        secured.client(secured.tokens["alice"]) as alice,
        secured.client(secured.tokens["bob"]) as bob,
    ):
        first = await alice.chat("remember the number 7")
        await bob.chat("and what was it?", session_id=first.session_id)
        await alice.chat("what was it?", session_id=first.session_id)
    import sqlite3

    with sqlite3.connect(secured.workdir / "runs.db") as db:
        sessions = dict(db.execute("SELECT session_id, COUNT(*) FROM chat GROUP BY session_id").fetchall())
    assert sessions == {f"alice\n{first.session_id}": 4, f"bob\n{first.session_id}": 2}


def stored_files(workdir: Path) -> Iterator[Path]:
    yield from (p for p in workdir.iterdir() if p.name.startswith("runs.db"))


async def test_no_secret_in_any_log_line_or_stored_byte_and_the_store_is_private(secured: Secured) -> None:
    async with secured.client(secured.tokens["alice"]) as alice:
        await (await alice.start(ECHO, {"note": "nothing secret"})).result()
        await alice.metrics()
    await refusal(secured, secured.tokens["alice"] + "x")  # a near miss is logged too
    logs = json.dumps(secured.gateway.logs) + json.dumps(secured.probe.logs)
    assert secured.gateway.logged("rpc refused"), "refusals are logged"
    stored = b"".join(path.read_bytes() for path in stored_files(secured.workdir))
    for secret in secured.secrets:
        assert secret not in logs
        assert secret.encode() not in stored
        assert token_hash(secret) not in logs
    for path in stored_files(secured.workdir):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.skipif(
    shutil.which("grpcurl") is None, reason="grpcurl is not installed; `make test` installs it"
)
async def test_grpcurl_with_a_bearer_token_as_the_readme_shows(secured: Secured) -> None:
    def grpcurl(*headers: str) -> subprocess.CompletedProcess[str]:
        args = ["grpcurl", "-plaintext", *(arg for h in headers for arg in ("-H", h))]
        args += [secured.target, "agentmesh.v1.OrchestratorService/ListAgents"]
        return subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)

    allowed = await asyncio.to_thread(grpcurl, f"authorization: Bearer {secured.tokens['vera']}")
    assert allowed.returncode == 0 and "probe" in allowed.stdout, allowed.stderr
    refused = await asyncio.to_thread(grpcurl)
    assert refused.returncode != 0
    assert "Unauthenticated" in refused.stderr and "MISSING_CREDENTIALS" in refused.stderr


def test_token_new_prints_a_token_once_and_an_entry_the_gateway_reads(tmp_path: Path) -> None:
    made = run_cli("token", "new", "--name", "ci bot", "--role", "viewer")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    entry = made.stderr.splitlines()[-1]
    assert token.startswith("amt_") and token not in made.stderr  # the file gets only the hash
    (tmp_path / "tokens.yaml").write_text("tokens:\n" + entry + "\n")
    assert StaticTokens(tmp_path / "tokens.yaml").authenticate(token) == Principal("ci bot", Role.VIEWER)
    assert run_cli("token", "new", "--name", "x", "--role", "boss").returncode == 2
