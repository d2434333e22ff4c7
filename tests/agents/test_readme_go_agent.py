"""The Go agent example in README.md, built as its own module and run as its own process."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.readme import example, serves_the_greeter


def readme_go_agent() -> str:
    return example("### In Go", "go")


def test_the_go_example_is_about_fifteen_lines_of_code() -> None:
    code_lines = [line for line in readme_go_agent().splitlines() if line.strip()]
    assert len(code_lines) <= 20


@pytest.fixture(scope="module")
def greeter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's program in a module of its own, as a user would lay it out, built with go."""
    go = shutil.which("go")
    assert go, "Go is a prerequisite of the test suite (see README)"
    module = tmp_path_factory.mktemp("greeter")
    (module / "main.go").write_text(readme_go_agent())
    (module / "go.mod").write_text(
        "module greeter\n\ngo 1.26.0\n\nrequire agentmesh/kit v0.0.0\n\n"
        f"replace agentmesh/kit => {ROOT / 'kits' / 'go'}\n"
    )
    # The kit's checksums cover the program's dependencies: nothing new is fetched.
    shutil.copy(ROOT / "kits" / "go" / "go.sum", module / "go.sum")
    env = {**os.environ, "GOWORK": "off", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
    subprocess.run([go, "build", "-o", "greeter", "."], cwd=module, env=env, check=True, timeout=600)
    return module / "greeter"


async def test_the_readme_go_agent_serves_and_validates(greeter: Path) -> None:
    await serves_the_greeter([str(greeter)])
