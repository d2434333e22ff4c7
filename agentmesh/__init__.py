"""agentmesh: a gRPC polyglot agent mesh.

The public API for writing agents and for running workflows from Python (`Client`) is
re-exported here; see README.md for a tour. The names are loaded on first use, so that
a command that does not serve an agent (`agentmesh up`, `agentmesh run`) does not
import the agent runtime and pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentmesh.client import Client, RunHandle, SyncClient
    from agentmesh.errors import AgentMeshError, FieldViolation, InvalidInput
    from agentmesh.llm import Prompt, Turn
    from agentmesh.messages import DataPart, Message, RawPart, TextPart, TokenUsage, UrlPart
    from agentmesh.runtime import Agent, Ask, Context, Reply, TextInput

_EXPORTS = {
    "Agent": "agentmesh.runtime",
    "AgentMeshError": "agentmesh.errors",
    "Ask": "agentmesh.runtime",
    "Client": "agentmesh.client",
    "Context": "agentmesh.runtime",
    "DataPart": "agentmesh.messages",
    "FieldViolation": "agentmesh.errors",
    "InvalidInput": "agentmesh.errors",
    "Message": "agentmesh.messages",
    "Prompt": "agentmesh.llm",
    "RawPart": "agentmesh.messages",
    "Reply": "agentmesh.runtime",
    "RunHandle": "agentmesh.client",
    "SyncClient": "agentmesh.client",
    "TextInput": "agentmesh.runtime",
    "TextPart": "agentmesh.messages",
    "TokenUsage": "agentmesh.messages",
    "Turn": "agentmesh.llm",
    "UrlPart": "agentmesh.messages",
}

__all__ = [
    "Agent",
    "AgentMeshError",
    "Ask",
    "Client",
    "Context",
    "DataPart",
    "FieldViolation",
    "InvalidInput",
    "Message",
    "Prompt",
    "RawPart",
    "Reply",
    "RunHandle",
    "SyncClient",
    "TextInput",
    "TextPart",
    "TokenUsage",
    "Turn",
    "UrlPart",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentmesh' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
