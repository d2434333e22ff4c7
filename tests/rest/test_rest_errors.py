"""Refusals over HTTP/JSON are problem details with the gRPC code, reason and field violations,
under the HTTP status google/rpc/code.proto gives that code; nothing is stored for a refused
request and the gateway goes on serving. Tokens, roles and tenant isolation are the gRPC port's."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from agentmesh.channels import DEFAULT_MAX_MESSAGE_BYTES
from tests.support.rest import Contract, RestGateway, collect_sse


def problem(response: httpx.Response, status: int, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["reason"] == reason and body["domain"] == "agentmesh", body
    return body


async def run_count(rest: RestGateway, token: str | None = None) -> int:
    async with rest.mesh(token) as mesh:
        return len([run async for run in mesh.list_runs(page_size=500)])


async def test_malformed_requests_are_400_naming_the_field_and_store_nothing(
    http: httpx.AsyncClient, contract: Contract, rest: RestGateway
) -> None:
    before = await run_count(rest)
    cases: list[tuple[bytes, str, str | None]] = [
        (b"{not json", "MALFORMED_REQUEST", None),
        (b"[1, 2]", "MALFORMED_REQUEST", None),
        (b"[" * 100_000 + b"]" * 100_000, "MALFORMED_REQUEST", None),  # deeper than any parser goes
        (b'{"workflowName": "slow-greeting", "colour": "red"}', "UNKNOWN_FIELD", "colour"),
        (
            b'{"workflowName": "slow-greeting", "context": {"sessionId": "s", "tone": 1}}',
            "UNKNOWN_FIELD",
            "context.tone",
        ),
        (b'{"workflowName": 7}', "MALFORMED_REQUEST", "workflowName"),
        (b'{"workflowName": "slow-greeting", "inputs": [1]}', "MALFORMED_REQUEST", "inputs"),
        (b'{"inputs": {"who": "x"}}', "INVALID_INPUT", "workflow"),
        (b'{"workflowName": "slow-greeting", "inputs": {}}', "INVALID_INPUTS", "inputs.who"),
    ]
    for body, reason, field in cases:
        response = await http.post("/v1/runs", content=body)
        contract.check_answer("/v1/runs", "post", response)
        found = problem(response, 400, reason)
        assert found["code"] == "INVALID_ARGUMENT"
        if field is not None:
            assert [v["field"] for v in found["violations"]][:1] == [field], found
        assert len(response.content) < 8 * 1024  # bounded whatever the request held
    assert await run_count(rest) == before
    assert (await http.get("/v1/caller")).status_code == 200  # still serving


async def test_unknown_runs_paths_and_methods(http: httpx.AsyncClient, contract: Contract) -> None:
    missing = await http.get(f"/v1/runs/{'f' * 32}")
    contract.check_answer("/v1/runs/{run_id}", "get", missing)
    assert problem(missing, 404, "RUN_NOT_FOUND")["code"] == "NOT_FOUND"
    assert problem(await http.get("/v1/nowhere"), 404, "NO_SUCH_PATH")
    wrong = await http.delete("/v1/runs")
    assert problem(wrong, 405, "METHOD_NOT_ALLOWED")["code"] == "UNIMPLEMENTED"
    assert wrong.headers["allow"] == "GET, POST"
    verb = await http.get(f"/v1/runs/{'f' * 32}:cancel")  # the custom verb's path, with GET
    assert problem(verb, 405, "METHOD_NOT_ALLOWED") and verb.headers["allow"] == "POST"
    body = await http.request("GET", "/v1/agents", content=b'{"x": 1}')
    assert problem(body, 400, "UNEXPECTED_BODY")


async def test_a_body_past_the_largest_message_is_413(http: httpx.AsyncClient, rest: RestGateway) -> None:
    before = await run_count(rest)
    padding = "x" * DEFAULT_MAX_MESSAGE_BYTES
    response = await http.post("/v1/runs", content=f'{{"workflowName": "{padding}"}}'.encode())
    found = problem(response, 413, "REQUEST_TOO_LARGE")
    assert found["code"] == "RESOURCE_EXHAUSTED" and found["metadata"] == {
        "max_bytes": str(DEFAULT_MAX_MESSAGE_BYTES)
    }

    async def chunks() -> Any:  # no Content-Length: counted as it comes
        for _ in range(17):
            yield b" " * (1024 * 1024)

    streamed = await http.post("/v1/runs", content=chunks())
    problem(streamed, 413, "REQUEST_TOO_LARGE")
    assert await run_count(rest) == before
    assert (await http.get("/v1/caller")).status_code == 200


async def test_tokens_are_checked_and_roles_named(secured: RestGateway) -> None:
    async with secured.http() as anonymous:
        missing = await anonymous.get("/v1/runs")
        assert problem(missing, 401, "MISSING_CREDENTIALS")["code"] == "UNAUTHENTICATED"
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert (await anonymous.get("/openapi.json")).status_code == 200  # the contract is public
    async with secured.http("amt_not-a-token") as stranger:
        problem(await stranger.get("/v1/runs"), 401, "INVALID_TOKEN")
    before = await run_count(secured, secured.tokens["root"])
    async with secured.http(secured.tokens["vera"]) as viewer:
        refused = await viewer.post(
            "/v1/runs", json={"workflowName": "slow-greeting", "inputs": {"who": "v"}}
        )
        found = problem(refused, 403, "ROLE_REQUIRED")
        assert found["detail"] == "viewer may not call StartRun; it needs operator"
        assert found["metadata"] == {"principal": "vera", "role": "viewer", "required": "operator"}
        stream = await collect_sse(viewer, "POST", "/v1/runs:stream", json={"workflowName": "slow-greeting"})
        assert stream.status == 403
        assert (await viewer.get("/v1/runs")).status_code == 200  # reading is a viewer's
        caller = (await viewer.get("/v1/caller")).json()
        assert caller == {
            "principal": "vera",
            "role": "CALLER_ROLE_VIEWER",
            "authenticated": True,
            "tenantIsolation": True,
        }
    assert await run_count(secured, secured.tokens["root"]) == before


async def test_another_principals_run_is_not_found(secured: RestGateway) -> None:
    async with secured.http(secured.tokens["oscar"]) as oscar, secured.http(secured.tokens["olga"]) as olga:
        started = await oscar.post(
            "/v1/runs", json={"workflowName": "slow-greeting", "inputs": {"who": "o", "ms": 60_000}}
        )
        run_id = started.json()["run"]["runId"]
        assert started.json()["run"]["principal"] == "oscar"
        problem(await olga.get(f"/v1/runs/{run_id}"), 404, "RUN_NOT_FOUND")
        assert (await collect_sse(olga, "GET", f"/v1/runs/{run_id}/events")).status == 404
        problem(await olga.post(f"/v1/runs/{run_id}:cancel"), 404, "RUN_NOT_FOUND")
        listed = await olga.get(f"/v1/runs?query={run_id}")
        assert listed.json().get("runs", []) == []
        # An admin sees every run, and filters by who started it.
        async with secured.http(secured.tokens["root"]) as root:
            by_oscar = (await root.get("/v1/runs?principal=oscar&workflowName=slow-greeting")).json()["runs"]
            assert run_id in [run["runId"] for run in by_oscar]
            assert all(run["principal"] == "oscar" for run in by_oscar)
        cancelled = await oscar.post(f"/v1/runs/{run_id}:cancel")
        assert cancelled.status_code == 200


async def test_pages_of_other_origins_may_not_change_anything(
    http: httpx.AsyncClient, rest: RestGateway
) -> None:
    before = await run_count(rest)
    body = {"workflowName": "slow-greeting", "inputs": {"who": "csrf"}}
    # A form on another site can POST here without asking (text/plain, no preflight): refused.
    forged = await http.post(
        "/v1/runs",
        content=str(body).encode(),
        headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
    )
    problem(forged, 403, "ORIGIN_NOT_ALLOWED")
    assert await run_count(rest) == before
    own = await http.post("/v1/runs", json=body, headers={"Origin": rest.url})  # the gateway's own pages
    assert own.status_code == 200
    # Reached through a name of its own (DNS rebinding), a gateway without tokens on loopback answers nothing.
    rebound = await http.get("/v1/runs", headers={"Host": f"evil.example:{rest.url.rsplit(':', 1)[1]}"})
    problem(rebound, 403, "HOST_NOT_ALLOWED")
    async with httpx.AsyncClient(base_url=rest.url.replace("127.0.0.1", "localhost"), timeout=30) as local:
        assert (await local.get("/v1/caller")).status_code == 200


async def test_a_unique_request_id_is_refused_once_and_then_stored_once(http: httpx.AsyncClient) -> None:
    """A refused start (a missing input) stores nothing: the same request_id, corrected, makes one run."""
    request_id = uuid.uuid4().hex
    refused = await http.post("/v1/runs", json={"workflowName": "slow-greeting", "requestId": request_id})
    problem(refused, 400, "INVALID_INPUTS")
    body = {"workflowName": "slow-greeting", "requestId": request_id, "inputs": {"who": "fixed"}}
    first, second = await http.post("/v1/runs", json=body), await http.post("/v1/runs", json=body)
    assert first.json()["run"]["runId"] == second.json()["run"]["runId"]
