"""The gateway's converter of run data (gateway.payloads): both forms of a value agree, each is
made once, a run's inputs reach the store as the client sent them, and no other module of the
gateway converts run data itself."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import struct_pb2
from hypothesis import given
from hypothesis import strategies as st

from agentmesh.messages import dict_to_struct
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_gateway import payloads
from agentmesh_gateway.payloads import RunData
from agentmesh_gateway.run_request import RunRequest
from agentmesh_gateway.store import open_store
from agentmesh_gateway.validation import apply_inputs
from tests.support.engine import running_engine

GATEWAY = Path(payloads.__file__).parent
#: The SDK's primitive conversions, which only gateway.payloads may call.
CONVERSIONS = frozenset(
    {"struct_to_dict", "value_to_python", "python_to_value", "dict_to_struct", "fill_struct"}
)

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    st.text(max_size=20),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_objects = st.dictionaries(st.text(max_size=8), _json, max_size=6)


@given(_objects)
def test_either_form_gives_the_other(data: dict[str, Any]) -> None:
    from_python = RunData(python=data)
    from_struct = RunData(struct=dict_to_struct(data))
    assert from_struct.python == data
    assert payloads.to_python(from_python.struct) == data
    assert sorted(from_python.names()) == sorted(from_struct.names()) == sorted(data)


@given(_objects, st.dictionaries(st.text(max_size=8), _json, max_size=3))
def test_values_added_appear_in_every_form_already_made(data: dict[str, Any], added: dict[str, Any]) -> None:
    values = {name: payloads.to_value(value) for name, value in added.items()}
    both = RunData(python=data)
    _ = both.struct
    for made in (RunData(python=data), RunData(struct=dict_to_struct(data)), both):
        extended = made.with_values(values)
        assert extended.python == {**data, **added}
        assert extended.struct == dict_to_struct({**data, **added})
        # The original is left as it was: its forms may be shared with whoever made it.
        assert made.python == data
        assert made.struct == dict_to_struct(data)


def test_each_form_is_made_once_and_kept() -> None:
    sent = dict_to_struct({"topic": "meshes", "depth": 2})
    data = RunData(struct=sent)
    assert data.struct is sent, "the Struct that came is kept as it came, not copied"
    assert data.python is data.python, "the Python form is converted once"
    made = RunData(python={"a": 1})
    assert made.struct is made.struct
    assert made.with_values({}) is made


def test_defaults_are_added_without_converting_the_given_inputs() -> None:
    workflow = workflow_pb2.Workflow(name="w")
    workflow.inputs.add(name="topic", required=True)
    declared = workflow.inputs.add(name="depth")
    declared.default_value.number_value = 3
    sent = dict_to_struct({"topic": "meshes"})
    applied = apply_inputs(workflow, RunData(struct=sent))
    assert applied.python == {"topic": "meshes", "depth": 3}
    untouched = RunData(struct=dict_to_struct({"topic": "x", "depth": 1}))
    assert apply_inputs(workflow, untouched) is untouched, "nothing to add: the same data, not a copy"


async def test_a_run_stores_the_inputs_as_the_client_sent_them(agent_address: str, tmp_path: Path) -> None:
    workflow = workflow_pb2.Workflow(name="w")
    step = workflow.steps.add(id="a", agent="scripted", skill="act")
    step.input.update({"deps": {}, "case": "${inputs.case}", "key": "a"})
    inputs = struct_pb2.Struct()
    inputs.update({"case": "payloads", "nested": {"list": [1, 2.5, "x", None, True]}})
    async with running_engine(open_store(tmp_path / "runs.db"), agent_address) as engine:
        started = await engine.start_run(RunRequest(workflow, inputs, run_pb2.RunContext()))
        stored = await engine.get_run(started.run_id)
    assert started.inputs == inputs
    assert stored.inputs == inputs
    assert stored.inputs.SerializeToString(deterministic=True) == inputs.SerializeToString(deterministic=True)


def conversions_outside_the_converter(root: Path) -> list[str]:
    """Each `module: name` where a gateway module other than payloads.py imports one of the SDK's
    primitive conversions."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "payloads.py" and path.parent == root:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module == "agentmesh.messages":
                found += [f"{path.relative_to(root)}: {a.name}" for a in node.names if a.name in CONVERSIONS]
    return found


def test_no_module_of_the_gateway_converts_run_data_but_the_converter() -> None:
    assert conversions_outside_the_converter(GATEWAY) == []


def test_the_check_finds_a_module_that_converts_by_itself(tmp_path: Path) -> None:
    (tmp_path / "payloads.py").write_text("from agentmesh.messages import dict_to_struct\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "rogue.py").write_text(
        "from agentmesh.messages import Message, struct_to_dict\n\ndef f(s):\n    return struct_to_dict(s)\n"
    )
    (tmp_path / "fine.py").write_text("from agentmesh_gateway.payloads import to_python\n")
    assert conversions_outside_the_converter(tmp_path) == ["sub/rogue.py: struct_to_dict"]


@pytest.mark.parametrize("value", [{"a": [1, {"b": None}]}, {}])
def test_to_python_reads_structs_and_values(value: dict[str, Any]) -> None:
    assert payloads.to_python(dict_to_struct(value)) == value
    assert payloads.to_python(payloads.to_value(value)) == value
