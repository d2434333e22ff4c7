"""agentmesh: a gRPC polyglot agent mesh.

The public API for writing agents is re-exported here; see README.md for a tour.
"""

from agentmesh.errors import AgentMeshError, FieldViolation, InvalidInput
from agentmesh.llm import Prompt, Turn
from agentmesh.messages import DataPart, Message, TextPart, TokenUsage
from agentmesh.runtime import Agent, Context, Reply, TextInput

__all__ = [
    "Agent",
    "AgentMeshError",
    "Context",
    "DataPart",
    "FieldViolation",
    "InvalidInput",
    "Message",
    "Prompt",
    "Reply",
    "TextInput",
    "TextPart",
    "TokenUsage",
    "Turn",
]
