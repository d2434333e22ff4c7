"""The package as users get it: a wheel built from the checkout, installed into a fresh virtualenv
outside it, runs `agentmesh demo` (its packages and shipped workflows are all in the wheel)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow

PACKAGES = {"agentmesh", "agentmesh_gateway", "agentmesh_services", "agentmesh_cli"}


def build_wheel(into: Path) -> Path:
    # No build isolation: the build uses this environment's setuptools instead of downloading one.
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(into),
        str(ROOT),
    ]
    subprocess.run(command, check=True, capture_output=True, text=True)
    (wheel,) = into.glob("agentmesh-*.whl")
    return wheel


def test_the_wheel_holds_four_packages_that_cannot_collide_and_the_shipped_workflows(tmp_path: Path) -> None:
    with zipfile.ZipFile(build_wheel(tmp_path)) as wheel:
        names = wheel.namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == PACKAGES
    assert {
        "agentmesh_services/workflows/research.yaml",
        "agentmesh_services/workflows/trend-analysis.yaml",
    } <= set(names)
    assert "agentmesh/py.typed" in names


def test_an_installed_wheel_runs_the_demo_outside_the_checkout(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--no-deps",
        "--quiet",
        str(wheel),
    ]
    subprocess.run(install, check=True, capture_output=True, text=True)
    # The dependencies, at the locked versions, from this environment: a line in a .pth file adds
    # their directory without running this environment's own .pth files (its editable install).
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"AGENTMESH_LLM": "offline", "COLUMNS": "100"}
    where = subprocess.run(
        [str(python), "-c", "import agentmesh_cli; print(agentmesh_cli.__file__)"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(venv)), where  # the wheel's copy, not the checkout's
    demo = subprocess.run(
        [str(venv / "bin" / "agentmesh"), "demo", "--topic", "Wind power at sea"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Wind power at sea" in demo.stdout.split("report", 1)[1]
    assert "mesh stopped (5 processes, exit codes [0])" in demo.stdout
