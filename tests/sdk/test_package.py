"""The package's public names, and what its commands import."""

from __future__ import annotations

import subprocess
import sys

import agentmesh


def test_every_public_name_resolves() -> None:
    assert sorted(agentmesh.__all__) == sorted(agentmesh._EXPORTS)
    for name in agentmesh.__all__:
        assert getattr(agentmesh, name).__name__ == name


def test_commands_that_serve_no_agent_do_not_load_the_agent_runtime() -> None:
    # `agentmesh up` starts eight interpreters on start-up's critical path: it spawns them sooner
    # for not importing the agent runtime (pydantic and the agent SDK) first.
    probe = "import sys, agentmesh_cli.up, agentmesh_cli.runs; print('pydantic' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False"
