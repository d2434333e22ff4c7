"""Workflow versions and schedules over HTTP/JSON, through real gateway processes: the same
answers as gRPC, each checked against the OpenAPI document; roles and tenant isolation as on
every other route."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.rest.test_rest_errors import problem
from tests.support.rest import SLOW, Contract, RestGateway


def changed_greeting(name: str, *, version: str = "") -> dict[str, Any]:
    flow = {**SLOW, "name": name, "description": uuid.uuid4().hex}
    return {**flow, "version": version} if version else flow


async def test_versions_are_applied_got_and_listed(http: httpx.AsyncClient, contract: Contract) -> None:
    name = f"greeting-{uuid.uuid4().hex[:6]}"
    first = await http.post("/v1/workflows", json={"workflow": changed_greeting(name)})
    contract.check_answer("/v1/workflows", "post", first)
    assert (first.json()["workflow"]["version"], first.json()["created"]) == ("1", True)
    second = await http.post("/v1/workflows", json={"workflow": changed_greeting(name)})
    assert second.json()["workflow"]["version"] == "2"
    taken = await http.post("/v1/workflows", json={"workflow": changed_greeting(name, version="1")})
    assert problem(taken, 409, "VERSION_TAKEN")["code"] == "ALREADY_EXISTS"
    got = await http.get(f"/v1/workflows/{name}@1")
    contract.check_answer("/v1/workflows/{name}", "get", got)
    assert got.json()["workflow"]["version"] == "1"
    assert [v["version"] for v in got.json()["versions"]] == ["2", "1"]
    started = await http.post("/v1/runs", json={"workflowName": f"{name}@1", "inputs": {"who": "v1"}})
    assert started.json()["run"]["workflow"]["version"] == "1"
    listed = await http.get("/v1/workflows")
    counts = {v["version"]: v.get("runs", "0") for v in listed.json()["versions"] if v["name"] == name}
    assert counts == {"2": "0", "1": "1"}  # int64 as a string, as ProtoJSON writes it
    problem(await http.get(f"/v1/workflows/{name}@9"), 404, "WORKFLOW_VERSION_NOT_FOUND")


async def test_a_schedule_is_created_paused_triggered_and_deleted(
    http: httpx.AsyncClient, contract: Contract
) -> None:
    name = f"tick-{uuid.uuid4().hex[:6]}"
    body = {"name": name, "workflowName": "slow-greeting", "cron": "0 9 * * 1-5", "inputs": {"who": "s"}}
    created = await http.post("/v1/schedules", json=body)
    contract.check_answer("/v1/schedules", "post", created)
    assert len(created.json()["schedule"]["nextFireTimes"]) == 5
    problem(await http.post("/v1/schedules", json=body), 409, "SCHEDULE_EXISTS")
    paused = await http.post(f"/v1/schedules/{name}:pause", json={"reason": "holiday"})
    contract.check_answer("/v1/schedules/{name}:pause", "post", paused)
    assert paused.json()["schedule"]["pauseReason"] == "holiday"
    triggered = await http.post(f"/v1/schedules/{name}:trigger")
    contract.check_answer("/v1/schedules/{name}:trigger", "post", triggered)
    assert triggered.json()["run"]["schedule"] == name
    listed = await http.get("/v1/schedules")
    contract.check_answer("/v1/schedules", "get", listed)
    assert name in [s["name"] for s in listed.json()["schedules"]]
    deleted = await http.delete(f"/v1/schedules/{name}")
    assert deleted.status_code == 200
    problem(await http.get(f"/v1/schedules/{name}"), 404, "SCHEDULE_NOT_FOUND")


async def test_bad_schedules_are_problems_naming_each_field(http: httpx.AsyncClient) -> None:
    refused = await http.post(
        "/v1/schedules", json={"name": "Bad Name", "workflowName": "slow-greeting", "cron": "* *"}
    )
    found = problem(refused, 400, "INVALID_INPUT")
    fields = {v["field"] for v in found["violations"]}
    assert {"schedule.name", "schedule.cron", "schedule.inputs.who"} <= fields


async def test_schedules_obey_roles_and_tenant_isolation(secured: RestGateway) -> None:
    name = f"mine-{uuid.uuid4().hex[:6]}"
    body = {"name": name, "workflowName": "slow-greeting", "cron": "0 0 1 1 *", "inputs": {"who": "x"}}
    async with (
        secured.http(secured.tokens["oscar"]) as oscar,
        secured.http(secured.tokens["olga"]) as olga,
        secured.http(secured.tokens["vera"]) as vera,
        secured.http(secured.tokens["root"]) as root,
    ):
        problem(await vera.post("/v1/schedules", json=body), 403, "ROLE_REQUIRED")
        problem(
            await oscar.post("/v1/workflows", json={"workflow": changed_greeting("x")}), 403, "ROLE_REQUIRED"
        )
        created = await oscar.post("/v1/schedules", json=body)
        assert created.json()["schedule"]["principal"] == "oscar"
        problem(await olga.get(f"/v1/schedules/{name}"), 404, "SCHEDULE_NOT_FOUND")
        problem(await olga.post(f"/v1/schedules/{name}:trigger"), 404, "SCHEDULE_NOT_FOUND")
        assert name not in [s["name"] for s in (await olga.get("/v1/schedules")).json().get("schedules", [])]
        run = (await oscar.post(f"/v1/schedules/{name}:trigger")).json()["run"]
        assert run["principal"] == "oscar"  # a schedule's runs are its owner's
        assert (await root.get(f"/v1/schedules/{name}")).status_code == 200
        await oscar.post(f"/v1/runs/{run['runId']}:cancel")
        assert (await oscar.delete(f"/v1/schedules/{name}")).status_code == 200
