"""The agent runtime: declare an `Agent`, serve it with health, reflection and graceful shutdown."""

from agentmesh.runtime.agent import Agent, Ask, Reply, Skill, TextInput
from agentmesh.runtime.context import Context
from agentmesh.runtime.main import AGENT_SERVICE, agent_host, serve_agent

__all__ = [
    "AGENT_SERVICE",
    "Agent",
    "Ask",
    "Context",
    "Reply",
    "Skill",
    "TextInput",
    "agent_host",
    "serve_agent",
]
