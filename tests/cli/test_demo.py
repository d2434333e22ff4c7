"""`agentmesh demo`, run as a person runs it: offline, as a subprocess, to a report and a clean exit."""

from __future__ import annotations

import os

from tests.support.mesh import run_cli


def test_the_demo_runs_research_on_a_local_mesh_and_stops_it_cleanly() -> None:
    env = {**os.environ, "AGENTMESH_LLM": "offline", "COLUMNS": "100"}
    result = run_cli("demo", "--topic", "Solar power in cities", env=env, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for name in ("researcher", "analyst", "writer", "critic", "gateway"):
        assert f"{name}" in out and "SERVING on 127.0.0.1:" in out
    assert "research item 2 completed" in out
    assert "run completed" in out
    assert "Solar power in cities" in out.split("report", 1)[1]
    assert "mesh stopped (5 processes, exit codes [0])" in out
