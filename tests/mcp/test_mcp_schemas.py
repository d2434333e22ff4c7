"""Workflows as MCP tools (names, schemas) and runs as tools answer with them (bounded): the pure
parts of the MCP surface, without processes."""

from __future__ import annotations

import json

from agentmesh.messages import dict_to_struct, python_to_value
from agentmesh.v1 import run_pb2
from agentmesh_gateway.mcp import schemas, views
from tests.support.mesh import step, workflow


def test_tool_names_are_the_workflows_own_where_mcp_allows_them() -> None:
    names = schemas.tool_names(["greet", "report v2", "report_v2", "get_run", "é", "x" * 200, "a/b", "a:b"])
    assert names["greet"] == "greet"
    assert names["report_v2"] == "report_v2"  # a valid name keeps it; the one cut to it is numbered
    assert names["report_v2_2"] == "report v2"
    assert names["get_run_2"] == "get_run"  # the run tools' names are taken
    assert names["_"] == "é"
    assert names["x" * 128] == "x" * 200
    assert {names["a_b"], names["a_b_2"]} == {"a/b", "a:b"}
    assert all(schemas._VALID_NAME.fullmatch(name) for name in names)
    assert schemas.tool_names(reversed(list(names.values()))) == names  # the same, whatever the order


def test_schemas_come_from_declared_inputs_and_outputs() -> None:
    flow = workflow(
        {
            "name": "flow",
            "inputs": [
                {"name": "topic", "description": "What about.", "required": True},
                {"name": "depth", "required": True, "default_value": "quick"},
                {"name": "note"},
            ],
            "steps": [
                step("a", "echo", {}),
                step("b", "echo", {}, dependencies=["a"]),
                step("c", "echo", {}),
            ],
            "outputs": {"zeta": "${steps.b.output}", "alpha": 1},
        }
    )
    assert schemas.input_schema(flow) == {
        "type": "object",
        "properties": {"topic": {"description": "What about."}, "depth": {"default": "quick"}, "note": {}},
        "required": ["topic"],
        "additionalProperties": False,
    }
    assert schemas.output_schema(flow)["required"] == ["alpha", "zeta"]
    del flow.outputs.fields["zeta"], flow.outputs.fields["alpha"]
    undeclared = schemas.output_schema(flow)
    assert undeclared["required"] == ["b", "c"] and set(undeclared["properties"]) == {"b", "c"}


def test_a_run_view_keeps_its_shape_and_leaves_out_values_beyond_its_budget() -> None:
    run = run_pb2.Run(run_id="r1", state=run_pb2.RUN_STATE_SUCCEEDED)
    run.workflow.name = "flow"
    run.outputs.CopyFrom(dict_to_struct({"small": 1}))
    run.inputs.CopyFrom(dict_to_struct({"big": "i" * 5000}))
    for number in range(3):
        done = run.steps.add(step_id=f"s{number}", state=run_pb2.STEP_STATE_SUCCEEDED, text="t")
        done.output.CopyFrom(python_to_value("o" * 3000))
    asking = run.steps.add(step_id="ask", state=run_pb2.STEP_STATE_WAITING_FOR_INPUT)
    for item in range(views.MAX_QUESTIONS + 5):
        asking.pending_input.add(step_id="ask", item=item).question.parts.add(text="which?")

    view = views.run_view(run, budget=10_000)
    assert view["state"] == "SUCCEEDED" and view["outputs"] == {"small": 1}
    assert [s["state"] for s in view["steps"]] == ["SUCCEEDED"] * 3 + ["WAITING_FOR_INPUT"]
    assert view["steps"][0]["output"] == "o" * 3000 and view["steps"][2]["output"] is None
    assert len(view["steps"][3]["waiting_for"]) == views.MAX_QUESTIONS
    assert view["omitted"] == ["steps.ask.waiting_for[20:]", "steps.s2.output", "inputs"]
    assert len(json.dumps(view)) < 12_000
