"""A2A beyond the spec's happy path: the resume extension (sequence-stamped streams, a subscription
that resumes after a sequence, gap-free, across a gateway restart), and the gateway's tokens,
roles and tenant isolation on every A2A binding."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from a2a.client import ClientCallContext
from a2a.client.errors import A2AClientError
from a2a.types import a2a_pb2 as a2a
from a2a.utils.errors import TaskNotFoundError

from agentmesh.messages import value_to_python
from agentmesh_gateway.auth.static_tokens import new_token, token_hash
from tests.a2a.conftest import A2AGateway, message
from tests.support.mesh import gateway_process, start_probe

RESUME = "https://agentmesh.dev/a2a/extensions/resume/v1"
CHAIN = """
name: chain
inputs: [{name: who, required: true}]
steps:
""" + "".join(
    f"""  - {{id: s{i}, agent: probe, skill: echo, input: {{key: "${{inputs.who}}-{i}", ms: 400}}"""
    + (f", dependencies: [s{i - 1}]" if i else "")
    + "}\n"
    for i in range(5)
)


def stamped(response: a2a.StreamResponse) -> int | None:
    """The run event sequence a streamed response carries under the resume extension."""
    for kind in ("task", "status_update", "artifact_update"):
        if response.HasField(kind):
            metadata = getattr(response, kind).metadata
            if "agentmesh.sequence" in metadata.fields:
                return int(metadata.fields["agentmesh.sequence"].number_value)
            if kind == "task" and "agentmesh" in metadata.fields:
                sequence = value_to_python(metadata.fields["agentmesh"]).get("sequence")
                return None if sequence is None else int(sequence)
    return None


@pytest.mark.slow
async def test_a_subscription_resumes_after_a_sequence_across_a_gateway_restart(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "chain.yaml").write_text(CHAIN)
    probe = await start_probe(tmp_path / "probe.jsonl")
    args = ["--http-port", "0", "--workflows", str(tmp_path / "flows")]
    first = gateway_process(tmp_path / "runs.db", {"probe": [probe.port]}, args)
    await first.start()
    try:
        served = A2AGateway(first, tmp_path / "probe.jsonl")
        client = await served.client("JSONRPC", "/a2a/workflows/chain")
        extension = ClientCallContext(service_parameters={"A2A-Extensions": RESUME})
        seen: list[int] = []
        request = a2a.SendMessageRequest(message=message({"who": "resume"}))
        async for response in client.send_message(request, context=extension):
            sequence = stamped(response)
            assert sequence is not None, response  # every response says where it stands
            seen.append(sequence)
            if response.HasField("task"):
                task_id = response.task.id
            if len(seen) >= 2:
                break  # the client goes away mid-run
        await client.close()
        await first.stop()  # and so does the gateway; the run waits in the store
        second = gateway_process(tmp_path / "runs.db", {"probe": [probe.port]}, args)
        await second.start()
        try:
            served = A2AGateway(second, tmp_path / "probe.jsonl")
            client = await served.client("GRPC", "/a2a/workflows/chain")
            last = seen[-1]
            resumed = ClientCallContext(
                service_parameters={"A2A-Extensions": RESUME, "agentmesh-after-sequence": str(last)}
            )
            after = [
                r async for r in client.subscribe(a2a.SubscribeToTaskRequest(id=task_id), context=resumed)
            ]
            plain = await served.client("HTTP+JSON", "/a2a/workflows/chain")
            done = await plain.get_task(a2a.GetTaskRequest(id=task_id))
            await client.close()
            await plain.close()
        finally:
            await second.stop()
    finally:
        await probe.stop()
    assert after[0].HasField("task") and stamped(after[0]) == last
    sequences = [s for s in (stamped(r) for r in after[1:]) if s is not None]
    assert len(sequences) == len(after) - 1  # every response says where it stands
    # Every event of the workflow's run is an update here: gap-free means every sequence after
    # the cursor, in order (the final event is two responses: the outputs, then the status).
    assert sorted(set(sequences)) == list(range(last + 1, max(sequences) + 1)) and sequences == sorted(
        sequences
    )
    states = [r.status_update.status.state for r in after if r.HasField("status_update")]
    assert states[-1] == a2a.TASK_STATE_COMPLETED
    assert done.status.state == a2a.TASK_STATE_COMPLETED
    assert value_to_python(done.metadata.fields["agentmesh"])["runId"] == task_id


async def test_without_the_extension_responses_carry_no_sequence(served: A2AGateway) -> None:
    client = await served.client("JSONRPC", "/a2a/workflows/greet-twice")
    try:
        responses = [
            r async for r in client.send_message(a2a.SendMessageRequest(message=message({"who": "x"})))
        ]
    finally:
        await client.close()
    assert [stamped(r) for r in responses[1:]] == [None] * (len(responses) - 1)


@pytest.mark.slow
async def test_tokens_roles_and_tenants_hold_on_every_binding(tmp_path: Path) -> None:
    tokens = {name: new_token() for name in ("alice", "bob", "vera")}
    roles = {"alice": "operator", "bob": "operator", "vera": "viewer"}
    entries = [{"name": n, "role": roles[n], "sha256": token_hash(t)} for n, t in tokens.items()]
    (tmp_path / "tokens.yaml").write_text(json.dumps({"tokens": entries}))
    probe = await start_probe(tmp_path / "probe.jsonl")
    args = ["--http-port", "0", "--auth-tokens", str(tmp_path / "tokens.yaml"), "--tenant-isolation"]
    gateway = gateway_process(tmp_path / "runs.db", {"probe": [probe.port]}, args)
    await gateway.start()
    try:
        served = A2AGateway(gateway, tmp_path / "probe.jsonl")
        base = f"{served.http}/a2a/agents/probe"
        async with httpx.AsyncClient(timeout=20) as http:
            # The card is open, and says a bearer token is wanted.
            card = (await http.get(f"{base}/.well-known/agent-card.json")).json()
            assert card["securitySchemes"]["bearer"]["httpAuthSecurityScheme"]["scheme"] == "bearer"
            body = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x"}}
            headers = {"A2A-Version": "1.0"}
            unauthenticated = await http.post(base, json=body, headers=headers)
            assert unauthenticated.status_code == 401
            assert unauthenticated.json()["reason"] == "MISSING_CREDENTIALS"
            assert unauthenticated.headers["www-authenticate"].startswith("Bearer")
            bad = await http.get(f"{base}/tasks", headers={**headers, "Authorization": "Bearer amt_nope"})
            assert (bad.status_code, bad.json()["reason"]) == (401, "INVALID_TOKEN")
            send = {"jsonrpc": "2.0", "id": 2, "method": "SendMessage", "params": {"message": {
                "messageId": "m-vera", "role": "ROLE_USER", "parts": [{"data": {"key": "v"}}]}}}  # fmt: skip
            viewer = {**headers, "Authorization": f"Bearer {tokens['vera']}"}
            forbidden = await http.post(base, json=send, headers=viewer)
            assert (forbidden.status_code, forbidden.json()["reason"]) == (403, "ROLE_REQUIRED")
            listed = await http.get(f"{base}/tasks", headers=viewer)
            assert listed.status_code == 200
        # gRPC: the gateway's guard, the same table.
        alice = {"authorization": f"Bearer {tokens['alice']}"}
        bob = {"authorization": f"Bearer {tokens['bob']}"}
        client = await served.client("GRPC")
        try:
            with pytest.raises(A2AClientError, match="UNAUTHENTICATED"):
                await client.get_task(a2a.GetTaskRequest(id="x"))
            mine = await client.send_message(
                a2a.SendMessageRequest(message=message({"key": "alice-task"}, metadata={"skill": "echo"})),
                context=ClientCallContext(service_parameters=alice),
            ).__anext__()
            task_id = mine.task.id
            # Tenant isolation: bob cannot see alice's task, on any binding.
            with pytest.raises(TaskNotFoundError):
                await client.get_task(
                    a2a.GetTaskRequest(id=task_id), context=ClientCallContext(service_parameters=bob)
                )
        finally:
            await client.close()
        jsonrpc = await served.client("JSONRPC", headers={"Authorization": f"Bearer {tokens['bob']}"})
        try:
            with pytest.raises(TaskNotFoundError):
                await jsonrpc.get_task(a2a.GetTaskRequest(id=task_id))
        finally:
            await jsonrpc.close()
    finally:
        await gateway.stop()
        await probe.stop()
