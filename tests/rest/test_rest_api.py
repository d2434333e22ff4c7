"""Every unary RPC of OrchestratorService over HTTP/JSON, through a real gateway process, each
answer checked against the OpenAPI document the gateway serves."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.mesh import probe_log
from tests.support.rest import SLOW, Contract, RestGateway, collect_sse


async def start(http: httpx.AsyncClient, contract: Contract, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post("/v1/runs", json=body)
    contract.check_answer("/v1/runs", "post", response)
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()["run"]
    return run


async def finished(http: httpx.AsyncClient, contract: Contract, run_id: str) -> dict[str, Any]:
    """The run once it has ended (its events followed to the last), as GetRun answers it."""
    stream = await collect_sse(http, "GET", f"/v1/runs/{run_id}/events")
    assert stream.status == 200
    response = await http.get(f"/v1/runs/{run_id}")
    contract.check_answer("/v1/runs/{run_id}", "get", response)
    run: dict[str, Any] = response.json()["run"]
    return run


async def test_a_run_starts_from_plain_json_and_is_got_with_its_outputs(
    http: httpx.AsyncClient, contract: Contract
) -> None:
    who = uuid.uuid4().hex[:8]
    run = await start(http, contract, {"workflowName": "slow-greeting", "inputs": {"who": who}})
    assert run["state"] == "RUN_STATE_RUNNING" and run["inputs"] == {"who": who, "ms": 0}
    done = await finished(http, contract, run["runId"])
    assert done["state"] == "RUN_STATE_SUCCEEDED"
    assert done["outputs"] == {"said": who}
    assert [step["stepId"] for step in done["steps"]] == ["hello", "wait", "bye"]
    assert done["lastSequence"] == "8"  # int64 as a string, as ProtoJSON writes it


async def test_proto_field_names_are_taken_too_and_a_request_id_makes_one_run(
    http: httpx.AsyncClient, contract: Contract
) -> None:
    body = {"workflow_name": "slow-greeting", "inputs": {"who": "twice"}, "request_id": uuid.uuid4().hex}
    first = await start(http, contract, body)
    second = await start(http, contract, body)
    assert first["runId"] == second["runId"]


async def test_runs_are_listed_with_filters_page_after_page(
    http: httpx.AsyncClient, contract: Contract, rest: RestGateway
) -> None:
    tag = uuid.uuid4().hex[:6]
    ours = [
        (await start(http, contract, {"workflowName": "slow-greeting", "inputs": {"who": f"{tag}{i}"}}))
        for i in range(3)
    ]
    for run in ours:
        await finished(http, contract, run["runId"])
    mine = {run["runId"] for run in ours}

    async def listed(query: str) -> list[str]:
        seen: list[str] = []
        token = ""
        while True:
            response = await http.get(
                f"/v1/runs?pageSize=2&{query}" + (f"&pageToken={token}" if token else "")
            )
            contract.check_answer("/v1/runs", "get", response)
            page = response.json()
            seen += [run["runId"] for run in page.get("runs", []) if run["runId"] in mine]
            if not (token := page.get("nextPageToken", "")):
                return seen
            assert len(page["runs"]) == 2

    newest_first = [run["runId"] for run in reversed(ours)]
    assert await listed("workflowName=slow-greeting") == newest_first
    assert await listed("state=RUN_STATE_SUCCEEDED&workflow_name=slow-greeting") == newest_first
    assert await listed("query=SLOW-Greet") == newest_first  # part of the name, any case
    assert await listed(f"query={ours[1]['runId'][:20]}") == [ours[1]["runId"]]  # an id's prefix
    assert await listed("workflowName=asking") == []
    # Listed runs carry no step outputs (GetRun has them), as over gRPC.
    response = await http.get(f"/v1/runs?query={ours[0]['runId']}")
    assert all("output" not in step for step in response.json()["runs"][0]["steps"])
    # The query string's errors name the parameter.
    bad = await http.get("/v1/runs?pageSize=lots")
    contract.check_answer("/v1/runs", "get", bad)
    assert bad.status_code == 400 and bad.json()["violations"][0]["field"] == "pageSize"
    unknown = await http.get("/v1/runs?color=red")
    assert unknown.status_code == 400 and unknown.json()["violations"][0]["field"] == "color"
    async with rest.mesh() as mesh:  # the same filters in the Python client
        found = [run.run_id async for run in mesh.list_runs(workflow_name="slow-greeting", query=tag)]
    assert found == []  # a tag is in the inputs, not in the workflow's name or the id
    async with rest.mesh() as mesh:
        found = [run.run_id async for run in mesh.list_runs(workflow_name="slow-greeting", page_size=500)]
    assert [run_id for run_id in found if run_id in mine] == newest_first


async def test_a_run_is_cancelled_and_cancelling_again_changes_nothing(
    http: httpx.AsyncClient, contract: Contract
) -> None:
    run = await start(
        http, contract, {"workflowName": "slow-greeting", "inputs": {"who": "late", "ms": 60_000}}
    )
    path = f"/v1/runs/{run['runId']}:cancel"
    response = await http.post(path, json={"reason": "no longer needed"})
    contract.check_answer("/v1/runs/{run_id}:cancel", "post", response)
    assert response.status_code == 200
    done = await finished(http, contract, run["runId"])
    assert done["state"] == "RUN_STATE_CANCELLED"
    again = await http.post(path)  # no body at all: every field unset
    assert again.status_code == 200 and again.json()["run"]["state"] == "RUN_STATE_CANCELLED"


async def test_a_question_is_answered_with_provide_input(
    http: httpx.AsyncClient, contract: Contract, rest: RestGateway
) -> None:
    key = uuid.uuid4().hex[:8]
    run = await start(http, contract, {"workflowName": "asking", "inputs": {"key": key}})
    waiting = await collect_sse(http, "GET", f"/v1/runs/{run['runId']}/events", stop_after=4)
    assert [e.event for e in waiting.events][-2:] == ["stepInputRequired", "runWaiting"]
    path = f"/v1/runs/{run['runId']}:provideInput"
    wrong = await http.post(path, json={"stepId": "pick", "answer": {"parts": [{"data": {"choice": "two"}}]}})
    contract.check_answer("/v1/runs/{run_id}:provideInput", "post", wrong)
    assert wrong.status_code == 400 and wrong.json()["violations"][0]["field"] == "answer.choice"
    missing = await http.post(path, json={"answer": {"parts": [{"data": {"choice": 2}}]}})
    assert missing.status_code == 400 and missing.json()["violations"][0]["field"] == "step_id"
    answered = await http.post(path, json={"stepId": "pick", "answer": {"parts": [{"data": {"choice": 2}}]}})
    contract.check_answer("/v1/runs/{run_id}:provideInput", "post", answered)
    assert answered.status_code == 200, answered.text
    done = await finished(http, contract, run["runId"])
    assert done["state"] == "RUN_STATE_SUCCEEDED" and done["outputs"]["pick"]["choices"] == [2]
    assert [r["event"] for r in probe_log(rest.workdir / "probe.jsonl") if r["key"] == key] == [
        "asked",
        "answered",
    ]


async def test_agents_workflows_validation_metrics_and_the_caller(
    http: httpx.AsyncClient, contract: Contract, rest: RestGateway
) -> None:
    run = await start(http, contract, {"workflowName": "slow-greeting", "inputs": {"who": "metrics"}})
    await finished(http, contract, run["runId"])
    agents = await http.get("/v1/agents")
    contract.check_answer("/v1/agents", "get", agents)
    [probe] = agents.json()["agents"]
    assert probe["name"] == "probe" and probe["replicas"][0]["health"] == "REPLICA_HEALTH_SERVING"
    workflows = await http.get("/v1/workflows")
    contract.check_answer("/v1/workflows", "get", workflows)
    assert {"slow-greeting", "asking"} <= {w["name"] for w in workflows.json()["workflows"]}
    valid = await http.post("/v1/workflows:validate", json={"workflow": SLOW})
    contract.check_answer("/v1/workflows:validate", "post", valid)
    assert valid.json() == {"executionOrder": ["hello", "wait", "bye"]}
    broken = {**SLOW, "steps": [{**SLOW["steps"][0], "agent": "nobody"}]}
    invalid = await http.post("/v1/workflows:validate", json={"workflow": broken})
    contract.check_answer("/v1/workflows:validate", "post", invalid)
    assert invalid.status_code == 400 and invalid.json()["reason"].startswith("INVALID_WORKFLOW")
    assert invalid.json()["violations"][0]["field"] == "workflow.steps[0].agent"  # as over gRPC
    metrics = await http.get("/v1/metrics")
    contract.check_answer("/v1/metrics", "get", metrics)
    [counted] = metrics.json()["metrics"]["agents"]
    assert counted["agent"] == "probe" and counted["p99Ms"] >= counted["p95Ms"] >= counted["p50Ms"] > 0
    assert int(counted["tokensUsed"]) >= 12  # 7 + 5 a slow-greeting, as the probe reported them
    async with rest.mesh() as mesh:  # the Python client's figures are the same
        [agent] = (await mesh.metrics()).agents
    assert agent.p99_ms >= agent.p95_ms and agent.tokens_used >= int(counted["tokensUsed"])
    caller = await http.get("/v1/caller")
    contract.check_answer("/v1/caller", "get", caller)
    assert caller.json() == {"role": "CALLER_ROLE_ADMIN"}  # no tokens checked: no limits


async def test_chat_answers_with_the_offline_provider(http: httpx.AsyncClient, contract: Contract) -> None:
    first = await http.post("/v1/chat", json={"message": "What should I research next?"})
    contract.check_answer("/v1/chat", "post", first)
    assert first.status_code == 200 and first.json()["response"]
    session = first.json()["sessionId"]
    again = await http.post("/v1/chat", json={"message": "And then?", "sessionId": session})
    assert again.json()["sessionId"] == session
    empty = await http.post("/v1/chat", json={})
    assert empty.status_code == 400 and empty.json()["violations"][0]["field"] == "message"


async def test_a_traceparent_header_is_what_the_run_links_to(
    http: httpx.AsyncClient, contract: Contract, rest: RestGateway
) -> None:
    traceparent = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
    response = await http.post(
        "/v1/runs",
        json={"workflowName": "slow-greeting", "inputs": {"who": "traced"}},
        headers={"traceparent": traceparent},
    )
    async with rest.mesh() as mesh:
        run = await mesh.get_run(response.json()["run"]["runId"])
    assert run.proto.traceparent == traceparent
