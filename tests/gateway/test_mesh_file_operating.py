"""The mesh file's operating settings (agents' limits, prices, schedules): read as written, and a
wrong one refused naming the file and the setting, before anything starts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from agentmesh.messages import struct_to_dict
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh_gateway.config import ConfigError, load_config
from agentmesh_gateway.pricing import Price
from agentmesh_gateway.throttle import AgentLimits
from tests.support.mesh import run_cli

GOOD = """
agents:
  writer: {addresses: [127.0.0.1:50063], max_concurrency: 4, rate: 100/min, burst: 5}
  critic: 127.0.0.1:50064
  weather: {a2a: https://weather.example.com, max_concurrency: 2}
prices:
  gemini-2.5-flash: {input: 0.30, output: 2.50}
  local-model: {input: 0}
schedules:
  - {name: nightly, workflow: research@1.0.0, cron: "0 2 * * *", time_zone: Europe/Oslo,
     inputs: {topic: fjords}, overlap: cancel_previous, catch_up: all, catch_up_window: 6h}
"""


def test_limits_prices_and_schedules_are_read(tmp_path: Path) -> None:
    (tmp_path / "mesh.yaml").write_text(GOOD)
    config = load_config(tmp_path / "mesh.yaml")
    assert config.agent_limits == {
        "writer": AgentLimits(max_concurrency=4, rate=100 / 60, burst=5),
        "weather": AgentLimits(max_concurrency=2),
    }
    assert config.prices == {"gemini-2.5-flash": Price(0.30, 2.50), "local-model": Price(0.0, 0.0)}
    (nightly,) = config.schedules
    assert (nightly.name, nightly.workflow_name, nightly.cron, nightly.time_zone) == (
        "nightly",
        "research@1.0.0",
        "0 2 * * *",
        "Europe/Oslo",
    )
    assert (nightly.overlap, nightly.catch_up) == (pb.OVERLAP_POLICY_CANCEL_PREVIOUS, pb.CATCH_UP_POLICY_ALL)
    assert nightly.catch_up_window.ToTimedelta() == timedelta(hours=6)
    assert struct_to_dict(nightly.inputs) == {"topic": "fjords"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("agents: {w: {addresses: [a:1], rate: fast}}", "agents.w.rate: 'fast' is not a rate such as 20/s"),
        ("agents: {w: {addresses: [a:1], max_concurrency: 0}}", "agents.w.max_concurrency must be a whole"),
        ("agents: {w: {addresses: [a:1], burst: 3}}", "agents.w.burst goes with a rate"),
        ("agents: {w: {addresses: [a:1], maxconcurrency: 3}}", "agents.w: unknown setting(s) maxconcurrency"),
        ("prices: {m: {input: -1}}", "prices.m.input must be a number, 0 or more"),
        ("prices: {m: 3}", "prices.m must be {input: N, output: N}"),
        ("schedules: {name: x}", "schedules must be a list of schedules"),
        ("schedules: [{name: x, cron: '* * * * *'}]", "schedules[0].workflow is required"),
        (
            "schedules: [{name: x, workflow: w, cron: '* * * * *', overlap: never}]",
            "schedules[0].overlap must be",
        ),
        ("schedules: [{name: x, workflow: w, cron: '* * * * *', every: 2}]", "unknown setting(s) every"),
        (
            "schedules: [{name: x, workflow: w, cron: '@daily'}, {name: x, workflow: w, cron: '@daily'}]",
            "schedules[1].name: 'x' is named twice",
        ),
        (
            "schedules: [{name: x, workflow: w, cron: '* * * * *', catch_up_window: soon}]",
            "schedules[0].catch_up_window",
        ),
    ],
)
def test_a_wrong_operating_setting_is_refused_naming_it(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "mesh.yaml").write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path / "mesh.yaml")
    assert str(refused.value).startswith(f"{tmp_path / 'mesh.yaml'}: ")
    assert message in str(refused.value)


def test_the_gateway_command_refuses_a_wrong_setting_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "mesh.yaml").write_text("prices: {m: {output: lots}}\n")
    refused = run_cli("gateway", "--config", str(tmp_path / "mesh.yaml"), "--port", "0")
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith("prices.m.output must be a number, 0 or more")
    assert len(refused.stderr.strip().splitlines()) == 1
