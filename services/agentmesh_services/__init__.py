"""The agents agentmesh ships, in Python, TypeScript and Go, and the workflows that use them.

Which agents exist, where they listen and how each is started is data: the mesh file
beside this module (mesh.yaml), stated once. Start one with `agentmesh agent NAME`; the
Python ones also with `python -m agentmesh_services.NAME`.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from agentmesh.runtime import Agent

HERE = Path(__file__).resolve().parent
#: The default mesh: agents, their addresses, and how each is started.
MESH_FILE = HERE / "mesh.yaml"
#: The shipped workflows (research, trend-analysis): package data, found wherever the package is installed.
SHIPPED_WORKFLOWS = HERE / "workflows"


@dataclass(frozen=True, slots=True)
class AgentEntry:
    """A shipped agent: its name, default port, and the command that starts it (without --host/--port)."""

    name: str
    default_port: int
    command: tuple[str, ...]
    #: Where the command runs (the repository, for agents not written in Python).
    root: Path

    @property
    def module(self) -> str | None:
        """The Python module of an agent started with `python -m MODULE`, else None."""
        if len(self.command) == 3 and self.command[:2] == ("python", "-m"):
            return self.command[2]
        return None

    def argv(self) -> list[str]:
        """The command to run, `python` being this interpreter."""
        return [sys.executable if part == "python" else part for part in self.command]


def _load(path: Path) -> dict[str, AgentEntry]:
    data = yaml.safe_load(path.read_text())
    root = (path.parent / data.get("root", ".")).resolve()
    entries = {}
    for name, entry in data["agents"].items():
        port = int(entry["addresses"][0].rpartition(":")[2])
        entries[name] = AgentEntry(name, port, tuple(entry["run"]), root)
    return entries


AGENTS: dict[str, AgentEntry] = _load(MESH_FILE)


def default_port(name: str) -> int:
    return AGENTS[name].default_port


def python_agents() -> list[str]:
    """The shipped agents written in Python (their objects can be imported)."""
    return [name for name, entry in AGENTS.items() if entry.module is not None]


def load_agent(name: str) -> Agent:
    """Import a shipped Python agent by name; KeyError if there is none by that name in Python."""
    module = AGENTS[name].module
    if module is None:
        raise KeyError(f"{name!r} is not a Python agent")
    agent: Agent = importlib.import_module(module).agent
    return agent
