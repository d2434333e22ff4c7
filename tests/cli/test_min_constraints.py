"""scripts/min_constraints.py, which `make test-min` installs from: every direct dependency at its
lower bound, and a requirement without one refused."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.support import ROOT

SCRIPT = ROOT / "scripts" / "min_constraints.py"


def constraints(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_runtime_and_extra_requirement_is_pinned_to_its_lower_bound() -> None:
    result = constraints("pytest")
    assert result.returncode == 0, result.stderr
    pins = dict(line.split("==") for line in result.stdout.splitlines())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra, requirements in project["optional-dependencies"].items():
        wanted += [] if extra in ("dev", "all") else requirements
    for requirement in wanted:
        name, lower = re.match(r"([A-Za-z0-9._-]+)(?:\[[^\]]*\])?>=([^,]+)", requirement).groups()  # type: ignore[union-attr]
        assert pins.pop(name) == lower, requirement
    locked = {
        canonical(n): v
        for n, v in (line.split("==") for line in (ROOT / "requirements.lock").read_text().split())
    }
    assert pins == {"pytest": locked["pytest"]}  # the test runner as locked, and nothing else


def test_a_requirement_without_a_lower_bound_is_refused(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["grpcio>=1.85.1,<2"]\n'
        '[project.optional-dependencies]\nfast = ["orjson<4"]\ndev = ["ruff"]\n'
    )
    result = constraints("--pyproject", str(pyproject))
    assert result.returncode == 1
    assert "'orjson<4' needs exactly one lower bound" in result.stderr
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["grpcio>=1.85.1,<2"]\n')
    assert constraints("--pyproject", str(pyproject)).stdout.split() == ["grpcio==1.85.1"]
