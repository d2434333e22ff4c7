"""The TypeScript kit as users get it: `npm pack` makes the tarball `npm publish` would upload, a
fresh project outside the checkout installs it (its dependencies from the registry, as anyone's
would be), and the README's greeter, copied out of README.md, type-checks against it with tsc,
runs, answers and passes the conformance kit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT
from tests.support.readme import example, serves_the_greeter

pytestmark = pytest.mark.slow

KIT = ROOT / "kits" / "typescript"


def readme_ts_agent() -> str:
    return example("### In TypeScript", "typescript")


def npm(*args: str, cwd: Path) -> str:
    executable = shutil.which("npm")
    assert executable, "Node.js and npm are prerequisites of the test suite (see README)"
    # No audit, fund or update notices: they ask the network for nothing the test needs.
    quiet = {"npm_config_audit": "false", "npm_config_fund": "false", "npm_config_update_notifier": "false"}
    result = subprocess.run(
        [executable, *args],
        cwd=cwd,
        env={**os.environ, **quiet},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"npm {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_the_typescript_example_is_about_fifteen_lines_of_code() -> None:
    code_lines = [line for line in readme_ts_agent().splitlines() if line.strip()]
    assert len(code_lines) <= 20


def test_the_package_readme_shows_the_same_greeter() -> None:
    assert example("## A greeter", "typescript", KIT / "README.md") == readme_ts_agent()


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The tarball and the paths in it; `npm pack` runs the package's prepack (tsc) first."""
    into = tmp_path_factory.mktemp("pack")
    (report,) = json.loads(npm("pack", "--json", "--pack-destination", str(into), cwd=KIT))
    return into / report["filename"], [entry["path"] for entry in report["files"]]


def test_the_tarball_holds_the_built_kit_and_no_tests(packed: tuple[Path, list[str]]) -> None:
    _, files = packed
    manifest: dict[str, Any] = json.loads((KIT / "package.json").read_text())
    assert "private" not in manifest
    assert {"package.json", "README.md", "LICENSE", "descriptors.binpb"} <= set(files)
    # Every file the exports map names is in it, and each entry point has its declarations.
    targets = [
        target
        for conditions in manifest["exports"].values()
        for target in (conditions.values() if isinstance(conditions, dict) else [conditions])
    ]
    for target in (t.removeprefix("./") for t in targets if "*" not in t):
        assert target in files, f"exports names {target}, which the tarball lacks"
    assert "dist/gen/agentmesh/v1/orchestrator_service_pb.d.ts" in files
    assert not [path for path in files if "/test/" in path or path.endswith(".tsbuildinfo")]


@pytest.fixture(scope="module")
def greeter(packed: tuple[Path, list[str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's greeter in a project of its own outside the checkout, with the tarball
    installed as `npm install @agentmesh/kit zod` would install the published package."""
    tarball, _ = packed
    project = tmp_path_factory.mktemp("greeter")
    assert not project.resolve().is_relative_to(ROOT), "the project must not see the workspace"
    (project / "package.json").write_text(json.dumps({"name": "greeter", "private": True, "type": "module"}))
    (project / "src").mkdir()
    (project / "src" / "greeter.ts").write_text(readme_ts_agent())
    # A user's strict settings; skipLibCheck off, so the kit's declarations are checked too.
    config = {
        "compilerOptions": {
            "target": "ES2022",
            "module": "NodeNext",
            "moduleResolution": "NodeNext",
            "strict": True,
            "skipLibCheck": False,
            "types": ["node"],
            "rootDir": "src",
            "outDir": "dist",
        },
        "include": ["src"],
    }
    (project / "tsconfig.json").write_text(json.dumps(config))
    # The compiler and Node's types at the workspace's versions, so that this test moves with them.
    tools: dict[str, str] = json.loads((ROOT / "package.json").read_text())["devDependencies"]
    npm("install", "--prefer-offline", str(tarball), "zod", cwd=project)
    npm(
        "install",
        "--prefer-offline",
        "--save-dev",
        f"typescript@{tools['typescript']}",
        f"@types/node@{tools['@types/node']}",
        cwd=project,
    )
    installed = project / "node_modules" / "@agentmesh" / "kit"
    assert not installed.is_symlink(), "the kit must be a copy from the tarball, not a link to the checkout"
    tsc = subprocess.run(
        [str(project / "node_modules" / ".bin" / "tsc"), "-p", str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert tsc.returncode == 0, tsc.stdout + tsc.stderr
    return project / "dist" / "greeter.js"


async def test_the_readme_greeter_built_on_the_tarball_serves_and_conforms(greeter: Path) -> None:
    await serves_the_greeter(["node", str(greeter)])
