"""What a mesh is without a mesh file: the shipped agents on their default ports, the shipped workflows."""

from __future__ import annotations

from agentmesh_gateway.config import GatewayConfig
from agentmesh_services import AGENTS, SHIPPED_WORKFLOWS


def default_mesh() -> GatewayConfig:
    return GatewayConfig(
        agents={name: [f"127.0.0.1:{entry.default_port}"] for name, entry in AGENTS.items()},
        workflow_paths=[SHIPPED_WORKFLOWS],
    )
