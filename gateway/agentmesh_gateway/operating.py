"""The mesh file's settings for operating workflows: agents' limits, model prices, schedules.

    agents:
      writer:
        addresses: [10.0.0.5:50063]
        max_concurrency: 4          # calls in flight at once, across the gateway's replicas
        rate: 20/s                  # or 100/min, 1000/hour
        burst: 5                    # calls at once after a quiet spell [a second's worth]
    prices:                         # per million tokens, in the unit budgets use
      gemini-2.5-flash: {input: 0.30, output: 2.50}
    schedules:
      - name: morning-digest
        workflow: research          # NAME or NAME@VERSION
        cron: "0 7 * * 1-5"
        time_zone: Europe/Oslo      # [UTC]
        inputs: {topic: agent meshes}
        overlap: skip               # skip, allow, cancel_previous
        catch_up: one               # none, one, all
        catch_up_window: 1h         # with catch_up: all

A schedule from the mesh file is created when the gateway starts, or changed to what the file
says; whether it is paused is left as an operator set it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from agentmesh.client import CATCH_UP_POLICIES, OVERLAP_POLICIES
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh_gateway.payloads import to_struct
from agentmesh_gateway.pricing import Price
from agentmesh_gateway.step_kinds import parse_duration
from agentmesh_gateway.throttle import AgentLimits, parse_rate

LIMIT_SETTINGS = frozenset({"max_concurrency", "rate", "burst"})
_SCHEDULE_SETTINGS = frozenset(
    {"name", "workflow", "cron", "time_zone", "inputs", "overlap", "catch_up", "catch_up_window", "paused"}
)


class SettingError(ValueError):
    """A setting is wrong; the message says which (the caller adds the file's name)."""


def agent_limits(value: Mapping[str, Any], where: str) -> AgentLimits | None:
    """An agent entry's limits, or None when it sets none."""
    if not LIMIT_SETTINGS & set(value):
        return None
    concurrency, burst, rate = value.get("max_concurrency"), value.get("burst"), value.get("rate")
    for name, number in (("max_concurrency", concurrency), ("burst", burst)):
        if number is not None and (not isinstance(number, int) or isinstance(number, bool) or number < 1):
            raise SettingError(f"{where}.{name} must be a whole number of at least 1")
    calls_a_second = None
    if rate is not None:
        try:
            calls_a_second = parse_rate(str(rate))
        except ValueError as exc:
            raise SettingError(f"{where}.rate: {exc}") from None
    if burst is not None and rate is None:
        raise SettingError(f"{where}.burst goes with a rate")
    return AgentLimits(max_concurrency=concurrency, rate=calls_a_second, burst=burst)


def prices(value: Any, where: str) -> dict[str, Price]:
    """Model name → price per million tokens, input and output."""
    if not isinstance(value, dict):
        raise SettingError(f"{where} must map model names to {{input: N, output: N}}")
    found = {}
    for model, price in value.items():
        if not isinstance(price, dict) or set(price) - {"input", "output"}:
            raise SettingError(f"{where}.{model} must be {{input: N, output: N}} (per million tokens)")
        numbers = {k: price.get(k, 0) for k in ("input", "output")}
        for kind, number in numbers.items():
            if not isinstance(number, int | float) or isinstance(number, bool) or number < 0:
                raise SettingError(f"{where}.{model}.{kind} must be a number, 0 or more")
        found[str(model)] = Price(float(numbers["input"]), float(numbers["output"]))
    return found


def schedules(value: Any, where: str) -> list[pb.Schedule]:
    """The schedules, as CreateSchedule takes them (checked further when the gateway starts:
    the workflow must exist and take the inputs)."""
    if not isinstance(value, list):
        raise SettingError(f"{where} must be a list of schedules")
    found: list[pb.Schedule] = []
    for index, entry in enumerate(value):
        here = f"{where}[{index}]"
        if not isinstance(entry, dict):
            raise SettingError(f"{here} must be a mapping")
        unknown = set(entry) - _SCHEDULE_SETTINGS
        if unknown:
            raise SettingError(f"{here}: unknown setting(s) {', '.join(sorted(map(str, unknown)))}")
        for required in ("name", "workflow", "cron"):
            if not isinstance(entry.get(required), str) or not entry[required]:
                raise SettingError(f"{here}.{required} is required (a string)")
        inputs = entry.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise SettingError(f"{here}.inputs must be a mapping")
        spec = pb.Schedule(
            name=entry["name"],
            workflow_name=entry["workflow"],
            cron=entry["cron"],
            time_zone=str(entry.get("time_zone", "")),
            inputs=to_struct(inputs),
            overlap=_choice(entry, "overlap", OVERLAP_POLICIES, here),
            catch_up=_choice(entry, "catch_up", CATCH_UP_POLICIES, here),
            paused=bool(entry.get("paused", False)),
        )
        if entry.get("catch_up_window") is not None:
            try:
                window = parse_duration(str(entry["catch_up_window"]))
            except ValueError as exc:
                raise SettingError(f"{here}.catch_up_window: {exc}") from None
            spec.catch_up_window.FromTimedelta(timedelta(seconds=window))
        if spec.name in {s.name for s in found}:
            raise SettingError(f"{here}.name: {spec.name!r} is named twice")
        found.append(spec)
    return found


def _choice(entry: Mapping[str, Any], name: str, choices: Mapping[str, int], where: str) -> Any:
    value = entry.get(name)
    if value is None:
        return 0
    if value not in choices:
        raise SettingError(f"{where}.{name} must be one of {', '.join(choices)}")
    return choices[value]
