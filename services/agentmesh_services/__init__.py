"""The agents agentmesh ships, each a standalone gRPC server, and the workflows that use them.

Start one with `agentmesh agent NAME` or `python -m agentmesh_services.NAME`. This table
is the one place their names, modules and default ports are stated.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentmesh.runtime import Agent


@dataclass(frozen=True, slots=True)
class AgentEntry:
    name: str
    module: str
    default_port: int


AGENTS: dict[str, AgentEntry] = {
    entry.name: entry
    for entry in (
        AgentEntry("researcher", "agentmesh_services.researcher", 50061),
        AgentEntry("analyst", "agentmesh_services.analyst", 50062),
        AgentEntry("writer", "agentmesh_services.writer", 50063),
        AgentEntry("critic", "agentmesh_services.critic", 50064),
        AgentEntry("trend-scanner", "agentmesh_services.trend_scanner", 50065),
        AgentEntry("video-scriptor", "agentmesh_services.video_scriptor", 50066),
        AgentEntry("post-scheduler", "agentmesh_services.post_scheduler", 50067),
    )
}


#: The shipped workflows (research, trend-analysis): package data, found wherever the package is installed.
SHIPPED_WORKFLOWS = Path(__file__).resolve().parent / "workflows"


def default_port(name: str) -> int:
    return AGENTS[name].default_port


def load_agent(name: str) -> Agent:
    """Import a shipped agent by name; raises KeyError for an unknown name."""
    agent: Agent = importlib.import_module(AGENTS[name].module).agent
    return agent
