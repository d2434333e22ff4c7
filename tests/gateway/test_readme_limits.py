"""The README's limits table says what the code enforces: each row's value is its constant's."""

from __future__ import annotations

import importlib
import re

from agentmesh_gateway import limits
from agentmesh_gateway.limits import MiB
from tests.support import ROOT

README = ROOT / "README.md"
ROW = re.compile(r"^\| (?P<what>[^|]+) \| (?P<value>[^|]+) \| `(?P<constant>[\w.]+)` \|$")


def rows() -> dict[str, str]:
    section = README.read_text().split("### Limits", 1)[1].split("\n#", 1)[0]
    found = {m["constant"]: m["value"] for line in section.splitlines() if (m := ROW.match(line))}
    assert len(found) > 10, "the limits table is missing or was reshaped"
    return found


def shown(name: str, value: float) -> str:
    """A constant as the table writes it."""
    if isinstance(value, float):
        return f"one per {value:g} s"
    if name.endswith("_BYTES") and value % MiB == 0:
        return f"{value // MiB} MiB"
    if name.endswith("_SECONDS"):
        return f"{value:,} s"
    return f"{value:,}"


def test_every_row_gives_its_constants_value() -> None:
    for dotted, value in rows().items():
        module, _, name = dotted.rpartition(".")
        assert value == shown(name, getattr(importlib.import_module(module), name)), dotted


def test_every_gateway_limit_has_a_row() -> None:
    listed = set(rows())
    constants = {f"agentmesh_gateway.limits.{name}" for name in vars(limits) if name.startswith("MAX_")}
    assert constants <= listed
