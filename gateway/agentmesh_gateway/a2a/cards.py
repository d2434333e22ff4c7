"""Agent cards: one per exposed agent (each workflow, each mesh agent), and one for the mesh.

A card lists the agent's interfaces on all three bindings (JSON-RPC and HTTP+JSON at its URL
on the HTTP port, gRPC on the gateway's gRPC port with its tenant), says it streams and offers
the resume extension, declares the bearer scheme when the gateway wants tokens, and describes
its skills: a workflow's one (its inputs), an agent's as its own card has them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from a2a.types import a2a_pb2 as a2a

from agentmesh.errors import NotFound, echo
from agentmesh.v1 import workflow_pb2
from agentmesh_gateway.a2a.convert import RESUME_EXTENSION
from agentmesh_gateway.a2a.targets import Target
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.payloads import to_python

PROTOCOL_VERSION = "1.0"
JSON = "application/json"
TEXT = "text/plain"


@dataclass(frozen=True)
class Endpoints:
    """Where the gateway is reached, as a caller of this request sees it."""

    http_base: str  # scheme://host:port of the HTTP port
    grpc_address: str  # host:port of the gRPC port


class Cards:
    def __init__(self, engine: Engine, *, version: str, bearer: bool) -> None:
        self._engine = engine
        self._version = version
        self._bearer = bearer

    def targets(self) -> list[Target]:
        workflows = [Target("workflows", name) for name in sorted(self._engine.workflows())]
        agents = [
            Target("agents", status.name) for status in sorted(self._engine.agents(), key=lambda a: a.name)
        ]
        return workflows + agents

    def check(self, target: Target) -> None:
        """NOT_FOUND unless the mesh exposes this target."""
        if target not in self.targets():
            raise NotFound(f"no A2A agent {echo(target.tenant)} in this mesh", reason="UNKNOWN_AGENT")

    def card(self, target: Target, endpoints: Endpoints) -> a2a.AgentCard:
        self.check(target)
        if target.kind == "workflows":
            workflow = self._engine.workflow(target.name)
            card = self._base(target.name, workflow.description or f"The {target.name} workflow.", endpoints)
            card.skills.append(_workflow_skill(workflow))
        else:
            status = next(s for s in self._engine.agents() if s.name == target.name)
            description = status.card.description or f"The {target.name} agent, called through the mesh."
            card = self._base(target.name, description, endpoints)
            card.skills.extend(_agent_skill(skill) for skill in status.card.skills)
        _interfaces(card, target.path, target.tenant, endpoints)
        return card

    def mesh_card(self, endpoints: Endpoints) -> a2a.AgentCard:
        """The mesh as one agent: its skills are the agents it exposes (a message names the one
        it is for in its `agent` metadata), each with its own card."""
        card = self._base(
            "agentmesh",
            "An agent mesh: each skill is an agent it exposes; name it in a message's metadata"
            " (agent: workflows/NAME or agents/NAME), or use its own card.",
            endpoints,
        )
        for target in self.targets():
            card.skills.add(
                id=target.tenant,
                name=target.name,
                description=f"{target.kind[:-1]} {target.name}; its card: "
                f"{endpoints.http_base}{target.path}/.well-known/agent-card.json",
                tags=[target.kind[:-1]],
                input_modes=[JSON, TEXT],
                output_modes=[JSON, TEXT],
            )
        _interfaces(card, "/a2a", "", endpoints)
        return card

    def _base(self, name: str, description: str, endpoints: Endpoints) -> a2a.AgentCard:
        card = a2a.AgentCard(
            name=name,
            description=description,
            version=self._version,
            default_input_modes=[JSON, TEXT],
            default_output_modes=[JSON, TEXT],
            capabilities=a2a.AgentCapabilities(streaming=True, push_notifications=False),
        )
        card.capabilities.extensions.add(
            uri=RESUME_EXTENSION,
            description="Streamed responses carry the run's event sequence (metadata agentmesh.sequence);"
            " SubscribeToTask resumes after the sequence given in the agentmesh-after-sequence header"
            " (gRPC metadata), gap-free.",
            required=False,
        )
        if self._bearer:
            card.security_schemes["bearer"].http_auth_security_scheme.scheme = "bearer"
            card.security_requirements.add().schemes["bearer"].SetInParent()
        return card


def _interfaces(card: a2a.AgentCard, path: str, tenant: str, endpoints: Endpoints) -> None:
    url = f"{endpoints.http_base}{path}"
    card.supported_interfaces.add(url=endpoints.grpc_address, protocol_binding="GRPC", tenant=tenant,
                                  protocol_version=PROTOCOL_VERSION)  # fmt: skip
    card.supported_interfaces.add(url=url, protocol_binding="JSONRPC", protocol_version=PROTOCOL_VERSION)
    card.supported_interfaces.add(url=url, protocol_binding="HTTP+JSON", protocol_version=PROTOCOL_VERSION)


def _workflow_skill(workflow: workflow_pb2.Workflow) -> a2a.AgentSkill:
    inputs = ", ".join(
        f"{declared.name}{'' if declared.required else ' (optional)'}" for declared in workflow.inputs
    )
    description = workflow.description or f"Run the {workflow.name} workflow."
    if inputs:
        description += f" Inputs, as a data part: {inputs}; a single text part fills the one text input."
    return a2a.AgentSkill(
        id=workflow.name,
        name=workflow.name,
        description=description,
        tags=["workflow"],
        input_modes=[JSON, TEXT],
        output_modes=[JSON],
    )


def _agent_skill(skill: object) -> a2a.AgentSkill:
    found = a2a.AgentSkill(
        id=getattr(skill, "id", ""),
        name=getattr(skill, "name", "") or getattr(skill, "id", ""),
        description=getattr(skill, "description", "") or "(no description)",
        tags=list(getattr(skill, "tags", [])) or ["agent"],
        input_modes=[JSON, TEXT],
        output_modes=[JSON, TEXT],
    )
    for example in getattr(skill, "input_examples", []):
        found.examples.append(json.dumps(to_python(example)))
    return found
