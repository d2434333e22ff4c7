"""The TypeScript agent example in README.md, type-checked with the repository's strict settings,
compiled and run as its own process."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.readme import example, serves_the_greeter


def readme_ts_agent() -> str:
    return example("### In TypeScript", "typescript")


def test_the_typescript_example_is_about_fifteen_lines_of_code() -> None:
    code_lines = [line for line in readme_ts_agent().splitlines() if line.strip()]
    assert len(code_lines) <= 20


@pytest.fixture(scope="module")
def greeter() -> Iterator[Path]:
    # Inside the repository, so that Node resolves @agentmesh/kit and zod as a user's project would.
    project = ROOT / "build" / "readme-ts-agent"
    shutil.rmtree(project, ignore_errors=True)
    (project / "src").mkdir(parents=True)
    (project / "src" / "greeter.ts").write_text(readme_ts_agent())
    (project / "package.json").write_text(json.dumps({"type": "module", "private": True}))
    config = {
        "extends": "../../tsconfig.base.json",
        "compilerOptions": {"rootDir": "src", "outDir": "dist", "composite": False, "declaration": False},
        "include": ["src"],
    }
    (project / "tsconfig.json").write_text(json.dumps(config))
    tsc = ROOT / "node_modules" / ".bin" / "tsc"
    subprocess.run([str(tsc), "-p", str(project)], check=True, timeout=300)
    yield project / "dist" / "greeter.js"
    shutil.rmtree(project, ignore_errors=True)


async def test_the_readme_typescript_agent_serves_and_validates(greeter: Path) -> None:
    await serves_the_greeter(["node", str(greeter)])
