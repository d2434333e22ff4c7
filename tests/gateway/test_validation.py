"""Workflow validation and expressions, without a server: every problem named by its field path."""

from __future__ import annotations

import re
from typing import Any

import pytest

from agentmesh.errors import InvalidInput
from agentmesh.workflows import load_directory, parse_workflow
from agentmesh_gateway import expressions, templates
from agentmesh_gateway.payloads import RunData
from agentmesh_gateway.retry import RetryPolicy
from agentmesh_gateway.step_kinds import parse_duration
from agentmesh_gateway.validation import apply_inputs, validate
from agentmesh_services import SHIPPED_WORKFLOWS
from tests.support import ROOT
from tests.support.mesh import workflow

AGENTS = {"researcher", "writer"}


def violations(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        validate(workflow(data), AGENTS)
    assert caught.value.reason == "INVALID_WORKFLOW"
    return {v.field: v.description for v in caught.value.violations}


def s(id: str, **extra: Any) -> dict[str, Any]:
    return {"id": id, "agent": "researcher", **extra}


def test_a_valid_workflow_gives_an_execution_order() -> None:
    order = validate(
        workflow({"name": "ok", "steps": [s("c", dependencies=["b"]), s("a"), s("b", dependencies=["a"])]}),
        AGENTS,
    )
    assert order == ["a", "b", "c"]


def test_ids_agents_and_dependencies_are_checked() -> None:
    found = violations(
        {"steps": [s("a"), s("a"), s("Bad Id"), {"id": "d"}, s("e", agent="ghost", dependencies=["zz", "e"])]}
    )
    assert found["workflow.steps[1].id"] == "duplicates the id of steps[0]"
    assert "must match" in found["workflow.steps[2].id"]
    assert found["workflow.steps[3].agent"] == "is required (or one of ask, sleep, until, workflow)"
    assert "unknown agent 'ghost'" in found["workflow.steps[4].agent"]
    assert found["workflow.steps[4].dependencies[0]"] == "unknown step 'zz'"
    assert found["workflow.steps[4].dependencies[1]"] == "a step cannot depend on itself"


def test_a_cycle_is_named() -> None:
    found = violations(
        {
            "steps": [
                s("a", dependencies=["c"]),
                s("b", dependencies=["a"]),
                s("c", dependencies=["b"]),
                s("d"),
            ]
        }
    )
    assert found["workflow.steps"] == "dependencies form a cycle: a → b → c → a"


def test_references_must_point_to_earlier_steps_and_declared_inputs() -> None:
    found = violations(
        {
            "inputs": [{"name": "topic"}],
            "steps": [
                s("a", input={"x": "${steps.b.output}", "y": "${inputs.nope}"}),
                s("b", dependencies=["a"], input={"z": "${steps.ghost.output}", "w": "${item}"}),
                s("c", when="steps.a.output ==", for_each="${steps.a.output.list}"),
            ],
            "outputs": {"r": "${steps.missing.output}"},
        }
    )
    assert found["workflow.steps[0].input.x"] == "refers to step 'b', which 'a' does not depend on"
    assert found["workflow.steps[0].input.y"] == "refers to undeclared input 'nope'"
    assert found["workflow.steps[1].input.z"] == "refers to unknown step 'ghost'"
    assert "only a for_each step" in found["workflow.steps[1].input.w"]
    assert "cannot parse" in found["workflow.steps[2].when"]
    assert "which 'c' does not depend on" in found["workflow.steps[2].for_each"]
    assert found["workflow.outputs.r"] == "refers to unknown step 'missing'"


def test_retry_values_must_be_sane() -> None:
    retry = {
        "max_attempts": 1000,
        "initial_delay": "5s",
        "max_delay": "1s",
        "backoff_multiplier": 0.5,
        "jitter": 2,
        "non_retryable_codes": ["NOPE"],
    }
    found = violations({"steps": [s("a", retry=retry, timeout="-1s")]})
    assert set(found) == {
        "workflow.steps[0].retry.max_attempts",
        "workflow.steps[0].retry.max_delay",
        "workflow.steps[0].retry.backoff_multiplier",
        "workflow.steps[0].retry.jitter",
        "workflow.steps[0].retry.non_retryable_codes[0]",
        "workflow.steps[0].timeout",
    }


def test_retry_defaults_and_backoff() -> None:
    policy = RetryPolicy.from_proto(None)
    assert (policy.max_attempts, policy.initial_delay, policy.backoff_multiplier, policy.jitter) == (
        3,
        1.0,
        2.0,
        0.1,
    )
    exact = RetryPolicy(initial_delay=1, backoff_multiplier=2, max_delay=5, jitter=0)
    assert [exact.delay(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]
    jittered = [RetryPolicy(jitter=0.5).delay(1) for _ in range(200)]
    assert 0.5 <= min(jittered) < max(jittered) <= 1.5


def test_run_inputs_get_defaults_and_missing_required_ones_are_named() -> None:
    flow = workflow(
        {
            "inputs": [{"name": "topic", "required": True}, {"name": "depth", "default_value": "quick"}],
            "steps": [s("a")],
        }
    )
    assert apply_inputs(flow, RunData(python={"topic": "x"})).python == {"topic": "x", "depth": "quick"}
    with pytest.raises(InvalidInput) as caught:
        apply_inputs(flow, RunData(python={"extra": 1}))
    assert {v.field for v in caught.value.violations} == {"inputs.topic", "inputs.extra"}


def test_expressions_keep_types_interpolate_and_are_null_safe() -> None:
    scope = {"inputs": {"n": 2, "name": "Ada"}, "steps": {"trend-discovery": {"output": {"trends": [1, 2]}}}}
    assert templates.resolve("${steps.trend-discovery.output.trends}", scope, "input") == [1, 2]
    assert templates.resolve("Hi ${inputs.name}, n=${inputs.n}", scope, "input") == "Hi Ada, n=2"
    assert templates.resolve("literal $${inputs.name} and ${ {'a': '}'}['a'] }", scope, "input") == (
        "literal ${inputs.name} and }"
    )
    assert expressions.evaluate("steps.missing.output.deep or 'fallback'", scope) == "fallback"
    assert (
        expressions.evaluate("len(steps.trend-discovery.output.trends) == inputs.n and true", scope) is True
    )
    for hostile in ("__import__('os')", "inputs.__class__.__mro__", "(lambda: 1)()", "open('x')"):
        with pytest.raises(expressions.ExpressionError):
            expressions.evaluate(hostile, scope)


def test_workflow_files_are_protojson_in_yaml() -> None:
    shipped = load_directory(SHIPPED_WORKFLOWS)
    assert set(shipped) == {"research", "trend-analysis"}
    with pytest.raises(InvalidInput, match="no field named"):
        parse_workflow("name: x\nstepz: []\n")


def test_the_readme_workflow_example_is_valid() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Write a workflow", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    assert match
    flow = parse_workflow(match.group(1))
    assert validate(flow, {"trend-scanner", "video-scriptor", "post-scheduler"}) == [
        "scan",
        "script",
        "schedule",
    ]


@pytest.mark.parametrize(
    ("expression", "said"),
    [
        ("${len}", "uses the function len as a value"),
        ("${str.join}", "str"),
        ("${[len, 1]}", "uses the function len as a value"),
        ("${inputs.n if bool else int}", "as a value"),
        ("${len()}", "calls len with 0 arguments; it takes 1"),
        ("${len(inputs.n, inputs.n)}", "calls len with 2 arguments; it takes 1"),
        ("${str(1, 2)}", "calls str with 2 arguments; it takes 0 or 1"),
    ],
)
def test_functions_are_called_not_passed_around(expression: str, said: str) -> None:
    found = violations({"steps": [s("a", input={"v": expression}), s("b", when=expression.strip("${}"))]})
    assert said in found["workflow.steps[0].input.v"]
    assert said in found["workflow.steps[1].when"]
    # What the validator passes, the run can evaluate: the same expressions called properly do.
    assert validate(workflow({"steps": [s("a", input={"v": "${len(str(int(1)))}"})]}), AGENTS) == ["a"]


def test_each_step_kind_is_checked_with_the_fields_that_go_with_it() -> None:
    steps = [
        {"id": "two", "agent": "researcher", "sleep": "1m"},
        {"id": "nap", "sleep": "ten minutes"},
        {"id": "late", "until": "tomorrow"},
        {"id": "zone", "until": "2027-01-31T09:00:00"},
        {"id": "sub", "workflow": "ghost"},
        {"id": "asks", "ask": {"question": " ", "approval": True, "schema": {"type": "object"}}},
        {"id": "who", "ask": {"question": "ok?", "role": "boss", "timeout": "soon"}},
        {"id": "bad-schema", "ask": {"question": "ok?", "schema": {"type": "nonsense"}}},
        {
            "id": "default",
            "ask": {"question": "ok?", "approval": True, "default_answer": {"approved": "yes"}},
        },
        {"id": "wait-retry", "sleep": "1s", "retry": {"max_attempts": 2}, "skill": "x", "for_each": "${[1]}"},
    ]
    found = violations({"steps": steps})
    assert found["workflow.steps[0].sleep"] == "a step does one thing: it names agent and sleep"
    assert "is not a duration" in found["workflow.steps[1].sleep"]
    assert "RFC 3339" in found["workflow.steps[2].until"]
    assert "no UTC offset" in found["workflow.steps[3].until"]
    assert found["workflow.steps[4].workflow"].startswith("unknown workflow 'ghost'")
    assert found["workflow.steps[5].ask.question"] == "is required"
    assert "give approval or schema" in found["workflow.steps[5].ask.schema"]
    assert "is not a role" in found["workflow.steps[6].ask.role"]
    assert "is not a duration" in found["workflow.steps[6].ask.timeout"]
    assert "is not a JSON Schema" in found["workflow.steps[7].ask.schema"]
    with pytest.raises(InvalidInput) as caught:
        validate(workflow({"steps": steps}), AGENTS)
    every = [(v.field, v.description) for v in caught.value.violations]
    defaults = [d for f, d in every if f == "workflow.steps[8].ask.default_answer"]
    assert len(defaults) == 2
    assert "give a timeout too" in defaults[0] and "does not fit the answer's schema" in defaults[1]
    for name in ("retry", "skill", "for_each"):
        assert found[f"workflow.steps[9].{name}"].startswith("only agent")
        assert found[f"workflow.steps[9].{name}"].endswith("this is a sleep step")


def test_step_kinds_that_are_right_pass_and_durations_read_as_people_write_them() -> None:
    flow = {
        "name": "kinds",
        "steps": [
            {"id": "nap", "sleep": "1h30m"},
            {"id": "until", "until": "2027-01-31T09:00:00Z", "dependencies": ["nap"]},
            {
                "id": "ok",
                "ask": {
                    "question": "Go on after ${steps.nap.output.woke_at}?",
                    "approval": True,
                    "timeout": "2d",
                    "default_answer": {"approved": False},
                },
                "dependencies": ["nap"],
            },
            {
                "id": "sub",
                "workflow": "child@3",
                "input": {"x": 1},
                "for_each": "${[1, 2]}",
                "timeout": "60s",
            },
        ],
    }
    assert validate(workflow(flow), AGENTS, {"child"}) == ["nap", "sub", "until", "ok"]
    assert (
        parse_duration("1h30m") == 5400 and parse_duration("250ms") == 0.25 and parse_duration("2d") == 172800
    )
    with pytest.raises(ValueError, match="longer than"):
        parse_duration("400d")


def test_an_ask_question_may_only_refer_to_steps_it_depends_on() -> None:
    found = violations(
        {"steps": [{"id": "nap", "sleep": "1s"}, {"id": "ok", "ask": {"question": "${steps.nap.output}?"}}]}
    )
    assert "does not depend on" in found["workflow.steps[1].ask.question"]


def test_a_budget_needs_a_limit_and_no_negative_one() -> None:
    assert violations({"budget": {}, "steps": [s("a")]})["workflow.budget"] == "give tokens, cost or both"
    assert "negative" in violations({"budget": {"tokens": -1}, "steps": [s("a")]})["workflow.budget.tokens"]
