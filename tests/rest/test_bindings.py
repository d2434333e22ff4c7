"""The transcoder's reading of http rules, on its own: path templates as google/api/http.proto
writes them (variables with patterns and field paths, `*`, `**`, custom verbs, percent-encoded
segments), and request messages built from a path, a query string and a body."""

from __future__ import annotations

import pytest
from google.api import http_pb2

from agentmesh.errors import InvalidInput
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import run_pb2
from agentmesh_gateway.rest.bindings import PathTemplate, binding_of, service_bindings
from agentmesh_gateway.rest.codec import build_request

SERVICE = pb.DESCRIPTOR.services_by_name["OrchestratorService"]


def test_templates_match_as_the_rules_write_them() -> None:
    cancel = PathTemplate("/v1/runs/{run_id}:cancel")
    assert cancel.verb == "cancel" and cancel.openapi_path == "/v1/runs/{run_id}:cancel"
    assert cancel.match("/v1/runs/abc:cancel") == {("run_id",): "abc"}
    assert cancel.match("/v1/runs/abc") is None and cancel.match("/v1/runs/a/b:cancel") is None
    nested = PathTemplate("/v1/{context.session_id=sessions/*}/messages/**:send")
    assert nested.openapi_path == "/v1/{context.session_id}/messages/**:send"
    assert nested.match("/v1/sessions/s%2F1/messages/a/b:send") == {("context", "session_id"): "sessions/s/1"}
    assert nested.match("/v1/other/s/messages/a:send") is None
    assert PathTemplate("/v1/metrics").match("/v1/metrics:watch") is None
    with pytest.raises(ValueError, match="starts with"):
        PathTemplate("v1/runs")


def test_every_rule_of_the_service_is_bound_most_specific_first() -> None:
    bindings = service_bindings(SERVICE)
    assert {b.method.name for b in bindings} == {m.name for m in SERVICE.methods}
    order = [b.template.text for b in bindings]
    assert order.index("/v1/runs/{run_id}:cancel") < order.index("/v1/runs/{run_id}")
    watch = next(b for b in bindings if b.method.name == "WatchRun")
    assert (watch.verb, watch.body, watch.streaming, watch.path_fields) == ("GET", "", True, {"run_id"})
    assert watch.full_method == "/agentmesh.v1.OrchestratorService/WatchRun"


def test_a_request_from_its_path_query_and_body() -> None:
    start = SERVICE.methods_by_name["StartRun"]
    # StartRun bound without a body: its fields, nested ones too, come from the query string.
    binding = binding_of(start, http_pb2.HttpRule(get="/v1/start/{request_id}"))
    query = [("workflowName", "research"), ("context.sessionId", "s1"), ("request_id", "ignored")]
    with pytest.raises(InvalidInput) as caught:
        build_request(binding, b"", query, {("request_id",): "r1"})
    assert [v.field for v in caught.value.violations] == ["request_id"]  # the path has it
    request = build_request(binding, b"", query[:2], {("request_id",): "r1"})
    assert isinstance(request, pb.StartRunRequest)
    assert (request.workflow_name, request.context.session_id, request.request_id) == ("research", "s1", "r1")
    listing = binding_of(SERVICE.methods_by_name["ListRuns"], http_pb2.HttpRule(get="/v1/runs"))
    listed = build_request(listing, b"", [("state", "RUN_STATE_FAILED"), ("page_size", "7")], {})
    assert isinstance(listed, pb.ListRunsRequest)
    assert (listed.state, listed.page_size) == (run_pb2.RUN_STATE_FAILED, 7)
    with pytest.raises(InvalidInput, match="more than once"):
        build_request(listing, b"", [("pageSize", "1"), ("pageSize", "2")], {})
    # A body field by name: the body is that field, the rest comes from the query string.
    cancel = binding_of(
        SERVICE.methods_by_name["CancelRun"], http_pb2.HttpRule(post="/v1/x/{run_id}", body="reason")
    )
    cancelled = build_request(cancel, b'"enough"', [], {("run_id",): "r"})
    assert isinstance(cancelled, pb.CancelRunRequest) and (cancelled.run_id, cancelled.reason) == (
        "r",
        "enough",
    )
    with pytest.raises(ValueError, match="is not a field"):
        binding_of(start, http_pb2.HttpRule(post="/v1/x", body="nothing"))
