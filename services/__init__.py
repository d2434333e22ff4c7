"""The agents agentmesh ships, each a standalone gRPC server.

Start one with `agentmesh agent NAME` or `python -m services.NAME`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
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
        AgentEntry("researcher", "services.researcher", 50061),
        AgentEntry("analyst", "services.analyst", 50062),
        AgentEntry("writer", "services.writer", 50063),
        AgentEntry("critic", "services.critic", 50064),
        AgentEntry("trend-scanner", "services.trend_scanner", 50065),
        AgentEntry("video-scriptor", "services.video_scriptor", 50066),
        AgentEntry("post-scheduler", "services.post_scheduler", 50067),
    )
}


def load_agent(name: str) -> Agent:
    """Import a shipped agent by name; raises KeyError for an unknown name."""
    agent: Agent = importlib.import_module(AGENTS[name].module).agent
    return agent
