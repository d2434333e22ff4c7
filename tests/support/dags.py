"""Generated workflows for the engine's property tests, and what each must do.

A case is a random DAG of steps on the scripted agent (see tests/engine_harness.py):
fan-in and fan-out, for_each over 0-3 items, `when` conditions on inputs or on a
dependency's state, retry policies, continue_on_failure, and a scripted outcome for
every attempt of every invocation. `expect` works out, without any engine, which
steps must succeed, be skipped or fail, which attempts the agent must see, and
whether the run must fail: the oracle the engine is checked against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from agentmesh.v1 import workflow_pb2
from tests.support.engine import AGENT, Outcome
from tests.support.mesh import workflow

RETRYABLE = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"})

Key = tuple[str, int | None, int]  # (step, item, attempt)


@dataclass(frozen=True)
class StepSpec:
    id: str
    deps: tuple[str, ...]
    items: int | None  # None: a plain step; n: for_each over n items
    when: tuple[str, Any] | None  # ("flag", bool) or ("dep_succeeded", dep)
    max_attempts: int
    continue_on_failure: bool
    outcomes: Mapping[tuple[int | None, int], Outcome]

    def invocations(self) -> list[int | None]:
        return [None] if self.items is None else list(range(self.items))

    def to_json(self) -> dict[str, Any]:
        step: dict[str, Any] = {
            "id": self.id,
            "agent": AGENT,
            "skill": "act",
            "input": {"case": "${inputs.case}", "deps": {d: f"${{steps.{d}.output}}" for d in self.deps}},
            "dependencies": list(self.deps),
            "retry": {"max_attempts": self.max_attempts, "initial_delay": "0.001s", "jitter": 0},
            "continue_on_failure": self.continue_on_failure,
        }
        if self.items is not None:
            step["for_each"] = f"${{inputs.items.{self.id}}}"
        if self.when is not None:
            kind, arg = self.when
            step["when"] = (
                f"inputs.flags.{self.id}" if kind == "flag" else f"steps.{arg}.state == 'succeeded'"
            )
        return step


@dataclass(frozen=True)
class Case:
    steps: tuple[StepSpec, ...]

    def workflow(self) -> workflow_pb2.Workflow:
        return workflow({"name": "generated", "steps": [s.to_json() for s in self.steps]})

    def inputs(self, case_id: str) -> dict[str, Any]:
        return {
            "case": case_id,
            "items": {s.id: list(range(s.items)) for s in self.steps if s.items is not None},
            "flags": {s.id: s.when[1] for s in self.steps if s.when is not None and s.when[0] == "flag"},
        }

    def outcomes(self) -> dict[Key, Outcome]:
        return {(s.id, item, attempt): o for s in self.steps for (item, attempt), o in s.outcomes.items()}

    def step(self, step_id: str) -> StepSpec:
        return next(s for s in self.steps if s.id == step_id)


# Few distinct delays: siblings that finish together are what exposes a join started twice.
_OUTCOMES = st.builds(
    Outcome,
    delay=st.sampled_from([0.0, 0.0, 0.002, 0.01]),
    code=st.sampled_from(["", "", "", "", "UNAVAILABLE", "UNAVAILABLE", "INVALID_ARGUMENT"]),
)


@st.composite
def cases(draw: st.DrawFn, max_layers: int = 4, max_width: int = 3) -> Case:
    """A layered DAG: each step depends on some steps of the layer before (fan-in), and
    sometimes on an earlier one; a layer's steps share dependencies (fan-out)."""
    layers: list[list[str]] = []
    specs: list[StepSpec] = []
    for _ in range(draw(st.integers(1, max_layers))):
        layer: list[str] = []
        for _width in range(draw(st.integers(1, max_width))):
            sid = f"s{len(specs)}"
            deps: tuple[str, ...] = ()
            if layers:
                chosen = set(draw(st.lists(st.sampled_from(layers[-1]), min_size=1, max_size=3)))
                earlier = [s for previous in layers[:-1] for s in previous]
                if earlier and draw(st.integers(0, 3)) == 0:
                    chosen.add(draw(st.sampled_from(earlier)))
                deps = tuple(sorted(chosen))
            specs.append(_step(draw, sid, deps))
            layer.append(sid)
        layers.append(layer)
    return Case(tuple(specs))


def _step(draw: st.DrawFn, sid: str, deps: tuple[str, ...]) -> StepSpec:
    items = draw(st.one_of(st.none(), st.none(), st.integers(0, 3)))
    kind = draw(st.sampled_from([None, None, "flag"] + (["dep_succeeded"] if deps else [])))
    when: tuple[str, Any] | None = None
    if kind == "flag":
        when = ("flag", draw(st.booleans()))
    elif kind == "dep_succeeded":
        when = ("dep_succeeded", draw(st.sampled_from(deps)))
    attempts = draw(st.integers(1, 3))
    outcomes = {
        (item, attempt): draw(_OUTCOMES)
        for item in ([None] if items is None else range(items))
        for attempt in range(1, attempts + 1)
    }
    return StepSpec(sid, deps, items, when, attempts, draw(st.booleans()), outcomes)


@dataclass
class Expected:
    """What a run of a case must come to, worked out without an engine.

    `state` per step: succeeded, skipped, failed (continued), fatal (fails the run) or
    unreached (a dependency failed the run first). `attempts` per invocation: the
    attempts the agent sees when the invocation runs to its end; `fails`: the
    invocations that end in failure.
    """

    state: dict[str, str] = field(default_factory=dict)
    attempts: dict[tuple[str, int | None], list[int]] = field(default_factory=dict)
    fails: set[tuple[str, int | None]] = field(default_factory=set)  # invocations failing for good

    @property
    def fatal(self) -> set[str]:
        return {sid for sid, state in self.state.items() if state == "fatal"}

    def allowed(self, key: Key) -> bool:
        """Whether the agent may ever be asked for this (step, item, attempt)."""
        step, item, attempt = key
        return attempt in self.attempts.get((step, item), [])


def _attempts(spec: StepSpec, item: int | None) -> tuple[list[int], bool]:
    """The attempts an invocation makes, and whether it ends in success."""
    for attempt in range(1, spec.max_attempts + 1):
        code = spec.outcomes[(item, attempt)].code
        if not code:
            return list(range(1, attempt + 1)), True
        if code not in RETRYABLE or attempt == spec.max_attempts:
            return list(range(1, attempt + 1)), False
    raise AssertionError("unreachable: the last attempt always decides")


def expect(case: Case) -> Expected:
    expected = Expected()
    for spec in case.steps:  # generated in dependency order
        dep_states = [expected.state[d] for d in spec.deps]
        if any(state in ("fatal", "unreached") for state in dep_states):
            expected.state[spec.id] = "unreached"
            continue
        if spec.when is not None:
            kind, arg = spec.when
            holds = arg if kind == "flag" else expected.state[arg] == "succeeded"
            if not holds:
                expected.state[spec.id] = "skipped"
                continue
        succeeded = True
        for item in spec.invocations():
            attempts, ok = _attempts(spec, item)
            expected.attempts[(spec.id, item)] = attempts
            if not ok:
                expected.fails.add((spec.id, item))
            succeeded = succeeded and ok
        if succeeded:
            expected.state[spec.id] = "succeeded"
        else:
            expected.state[spec.id] = "failed" if spec.continue_on_failure else "fatal"
    return expected
