"""What the mesh exposes as A2A agents: each workflow, and each mesh agent on its own.

A target is reached at `/a2a/workflows/NAME` or `/a2a/agents/NAME` on the HTTP port (JSON-RPC at
that URL, HTTP+JSON under it), and on the gRPC port by A2A's `tenant` field, `workflows/NAME` or
`agents/NAME`. A message to a workflow starts a run of it; a message to an agent starts a run of
one step calling it (its skill named by the message's `skill` metadata, else its first), so a
caller gets the mesh's durability, retries, auth and tracing for a single agent call too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from agentmesh.errors import InvalidInput, NotFound, echo
from agentmesh.v1 import run_pb2, workflow_pb2

Kind = Literal["workflows", "agents"]
#: The workflow name the runs of an agent exposed on its own carry.
AGENT_WORKFLOW_PREFIX = "a2a-agent:"


@dataclass(frozen=True)
class Target:
    kind: Kind
    name: str

    @property
    def tenant(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def path(self) -> str:
        return f"/a2a/{self.kind}/{self.name}"

    @property
    def workflow_name(self) -> str:
        """The name the target's runs carry as their workflow's (how its tasks are listed)."""
        return self.name if self.kind == "workflows" else AGENT_WORKFLOW_PREFIX + self.name

    @property
    def step_id(self) -> str | None:
        """The step whose text and data an agent exposed on its own answers with."""
        return "call" if self.kind == "agents" else None

    @classmethod
    def of_run(cls, run: run_pb2.Run) -> Target:
        """The target a run was started through (a workflow's, unless an agent's on its own)."""
        name = run.workflow.name
        if name.startswith(AGENT_WORKFLOW_PREFIX):
            return cls("agents", name.removeprefix(AGENT_WORKFLOW_PREFIX))
        return cls("workflows", name)

    @classmethod
    def of_tenant(cls, tenant: str) -> Target:
        kind, _, name = tenant.partition("/")
        if kind not in ("workflows", "agents") or not name:
            raise NotFound(
                f"no A2A agent {echo(tenant)}: a tenant is workflows/NAME or agents/NAME",
                reason="UNKNOWN_TENANT",
            )
        return cls(kind, name)  # type: ignore[arg-type]


def agent_workflow(target: Target, skill: str, inputs: dict[str, Any]) -> workflow_pb2.Workflow:
    """The one-step workflow that calls an agent exposed on its own with `inputs` as its input."""
    flow = workflow_pb2.Workflow(name=target.workflow_name)
    step = flow.steps.add(id="call", agent=target.name, skill=skill)
    for key in inputs:
        if "}" in key or "'" in key:
            raise InvalidInput.field(f"message.data.{echo(key)}", "is not a name an input may have")
        step.input.fields[key].string_value = f"${{inputs['{key}']}}"
    return flow


def text_input(workflow: workflow_pb2.Workflow) -> str | None:
    """The input a message's text fills in: the workflow's one declared input (or its one
    required input), or `text` when it declares none."""
    if not workflow.inputs:
        return "text"
    if len(workflow.inputs) == 1:
        return workflow.inputs[0].name
    required = [declared.name for declared in workflow.inputs if declared.required]
    return required[0] if len(required) == 1 else None
