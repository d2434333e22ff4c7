"""What a mesh is without a mesh file: the shipped mesh file's agents and the shipped workflows."""

from __future__ import annotations

from agentmesh_gateway.config import GatewayConfig, load_config
from agentmesh_services import MESH_FILE, SHIPPED_WORKFLOWS


def default_mesh() -> GatewayConfig:
    config = load_config(MESH_FILE)
    config.workflow_paths = [SHIPPED_WORKFLOWS]
    return config
