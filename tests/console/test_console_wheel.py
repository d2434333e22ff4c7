"""The wheel carries the built console as package data: `pip install` gives a gateway that serves
it with no Node on the machine."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from agentmesh_gateway.console import STATIC
from tests.cli.test_wheel import build_wheel

pytestmark = pytest.mark.slow


def test_the_wheel_holds_the_console(tmp_path: Path) -> None:
    built = sorted(str(path.relative_to(STATIC)) for path in STATIC.rglob("*") if path.is_file())
    assert "index.html" in built and any(name.startswith("assets/console-") for name in built)
    with zipfile.ZipFile(build_wheel(tmp_path)) as wheel:
        names = set(wheel.namelist())
        index = wheel.read("agentmesh_gateway/console/static/index.html").decode()
    assert {f"agentmesh_gateway/console/static/{name}" for name in built} <= names
    assert "agentmesh_gateway/console/__init__.py" in names
    script = index.split('src="/', 1)[1].split('"', 1)[0]
    assert f"agentmesh_gateway/console/static/{script}" in names
