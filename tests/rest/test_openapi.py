"""/openapi.json: an OpenAPI 3.1 document made from the same descriptors the transcoder serves,
valid by openapi-spec-validator, needing no token; the other tests check every answer against
its schemas (tests.support.rest.Contract), so it cannot drift from what is served. Here: the
validator and the checks catch a broken document, and the document says what the protos say."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from google.api import annotations_pb2
from jsonschema import ValidationError
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing.exceptions import Unresolvable

from agentmesh.v1 import orchestrator_service_pb2 as pb
from tests.support.rest import Contract, RestGateway

SERVICE = pb.DESCRIPTOR.services_by_name["OrchestratorService"]


def rules() -> set[tuple[str, str]]:
    """(path, verb) of every http rule in the contract, read here on their own."""
    found = set()
    for method in SERVICE.methods:
        rule = method.GetOptions().Extensions[annotations_pb2.http]
        verb = rule.WhichOneof("pattern")
        found.add((getattr(rule, verb), verb))
    return found


def test_the_document_is_valid_openapi_3_1(contract: Contract) -> None:
    assert contract.document["openapi"] == "3.1.0"
    validate(contract.document)


def test_the_validator_catches_a_broken_document(contract: Contract) -> None:
    unreferenced = copy.deepcopy(contract.document)
    del unreferenced["components"]["schemas"]["agentmesh.v1.Run"]
    with pytest.raises(Unresolvable):
        validate(unreferenced)
    undeclared = copy.deepcopy(contract.document)
    undeclared["paths"]["/v1/runs/{run_id}"]["get"]["parameters"] = []
    with pytest.raises(OpenAPIValidationError, match="run_id"):
        validate(undeclared)
    misspelt = copy.deepcopy(contract.document)
    misspelt["components"]["schemas"]["agentmesh.v1.Run"]["type"] = "objekt"
    with pytest.raises(OpenAPIValidationError):
        validate(misspelt)


def test_answers_that_drift_from_the_document_are_caught(contract: Contract) -> None:
    run = {"runId": "r", "state": "RUN_STATE_RUNNING", "lastSequence": "3"}
    contract.check("agentmesh.v1.Run", run)
    with pytest.raises(ValidationError):
        contract.check("agentmesh.v1.Run", {**run, "undocumented": 1})
    with pytest.raises(ValidationError):
        contract.check("agentmesh.v1.Run", {**run, "state": "RUNNING"})
    with pytest.raises(ValidationError):
        contract.check("agentmesh.v1.Run", {**run, "lastSequence": "three"})
    with pytest.raises(ValidationError):
        contract.check("Problem", {"status": 404})


def test_every_rule_of_the_contract_is_a_path_and_nothing_else(contract: Contract) -> None:
    served = {(path, verb) for path, operations in contract.document["paths"].items() for verb in operations}
    assert served == rules()
    for operations in contract.document["paths"].values():
        for operation in operations.values():
            method = SERVICE.methods_by_name[operation["operationId"]]
            assert operation["x-grpc-method"] == f"{SERVICE.full_name}/{method.name}"


def test_comments_roles_and_streams_are_documented(contract: Contract) -> None:
    start = contract.operation("/v1/runs", "post")
    assert start["description"].startswith("StartRun starts a run and returns it at once.")
    assert "Needs the operator role" in start["description"]
    assert "Needs the viewer role" in contract.operation("/v1/runs", "get")["description"]
    listed: dict[str, Any] = {p["name"]: p for p in contract.operation("/v1/runs", "get")["parameters"]}
    assert {"pageSize", "pageToken", "state", "workflowName", "principal", "query"} <= set(listed)
    assert "case-insensitive" in listed["query"]["schema"]["description"]
    run = contract.document["components"]["schemas"]["agentmesh.v1.Run"]
    assert run["properties"]["lastSequence"]["type"] == ["string", "integer"]  # int64, as ProtoJSON
    assert run["additionalProperties"] is False
    metrics = contract.document["components"]["schemas"]["agentmesh.v1.AgentMetrics"]["properties"]
    assert "across restarts" in metrics["tokensUsed"]["description"] and "p99Ms" in metrics
    watch = contract.operation("/v1/runs/{run_id}/events", "get")
    content = watch["responses"]["200"]["content"]
    assert set(content) == {"text/event-stream", "application/x-ndjson"}
    assert content["text/event-stream"]["x-event-data"] == {
        "$ref": "#/components/schemas/agentmesh.v1.WatchRunResponse"
    }
    resume = {p["name"]: p["in"] for p in watch["parameters"]}
    assert resume == {"run_id": "path", "afterSequence": "query", "after": "query", "Last-Event-ID": "header"}
    provide = contract.operation("/v1/runs/{run_id}:provideInput", "post")
    body = provide["requestBody"]["content"]["application/json"]["schema"]
    assert "runId" not in body["properties"] and body["required"] == ["stepId", "answer"]  # the path has it


async def test_a_gateway_that_checks_tokens_says_so_and_serves_the_document_to_anyone(
    secured: RestGateway, contract: Contract
) -> None:
    assert "security" not in contract.document  # the open gateway asks for nothing
    async with httpx.AsyncClient(base_url=secured.url, timeout=30) as anonymous:
        response = await anonymous.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A static API token (amt_…) or an OIDC/JWT access token.",
    }
    validate(document)
