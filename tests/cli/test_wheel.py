"""The package as users get it: `make dist` builds a wheel and an sdist that twine passes; the
wheel, installed without extras into a fresh virtualenv outside the checkout, runs the demo and
`agentmesh up` (the Go and TypeScript agents, which it does not carry, said to be elsewhere), and
a feature whose extra is not installed is one line naming it."""

from __future__ import annotations

import email
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentmesh_services import AGENTS, python_agents
from bench.startup import free_ports
from tests.support import ROOT

pytestmark = pytest.mark.slow

PACKAGES = {"agentmesh", "agentmesh_gateway", "agentmesh_services", "agentmesh_cli"}
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
#: What each extra brings, none of which a plain install has.
EXTRA_MODULES = {"gemini": "google.genai", "openai": "openai", "postgres": "asyncpg"}
EXTRA_MODULES |= {"otlp": "opentelemetry.exporter.otlp.proto.http"}
ELSEWHERE = {
    "trend-scanner": "ghcr.io/agentmesh/agentmesh-go",
    "video-scriptor": "ghcr.io/agentmesh/agentmesh-node",
    "post-scheduler": "ghcr.io/agentmesh/agentmesh-node",
}


def build_dist(into: Path) -> tuple[Path, Path]:
    """`make dist` into `into` (its wheel built from its sdist, both checked by twine)."""
    made = subprocess.run(
        ["make", "--no-print-directory", "dist", f"DIST={into}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert made.stdout.count("PASSED") == 2 and "WARNING" not in made.stdout, made.stdout
    (wheel,) = into.glob("agentmesh-*.whl")
    (sdist,) = into.glob("agentmesh-*.tar.gz")
    return wheel, sdist


def build_wheel(into: Path) -> Path:
    return build_dist(into)[0]


def test_make_dist_builds_a_wheel_and_an_sdist_with_the_packages_the_license_and_the_extras(
    tmp_path: Path,
) -> None:
    wheel, sdist = build_dist(tmp_path)
    with zipfile.ZipFile(wheel) as built:
        names = built.namelist()
        metadata = email.message_from_bytes(built.read(f"agentmesh-{VERSION}.dist-info/METADATA"))
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == PACKAGES  # four import packages that cannot collide with a user's
    assert {
        "agentmesh_services/workflows/research.yaml",
        "agentmesh_services/workflows/trend-analysis.yaml",
        "agentmesh/py.typed",
        f"agentmesh-{VERSION}.dist-info/licenses/LICENSE",
    } <= set(names)
    assert metadata["License-Expression"] == "Apache-2.0"
    assert {"gemini", "openai", "postgres", "otlp", "all", "dev"} <= set(
        metadata.get_all("Provides-Extra", [])
    )
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL", []))
    assert urls["Repository"] == "https://github.com/agentmesh/agentmesh" and "Issues" in urls
    requires: list[str] = metadata.get_all("Requires-Dist", [])
    plain = [r for r in requires if "extra ==" not in r]
    assert not [r for r in plain if re.match(r"(google-genai|openai|asyncpg|opentelemetry-exporter)", r)]
    assert any(r.startswith("google-genai") and 'extra == "gemini"' in r for r in requires)
    with tarfile.open(sdist) as source:
        files = {name.split("/", 1)[1] for name in source.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "LICENSE", "agentmesh/__init__.py"} <= files


@dataclass
class Installed:
    venv: Path
    work: Path  # outside the checkout: where its commands run

    @property
    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
        return env | {"AGENTMESH_LLM": "offline", "COLUMNS": "100"}

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "agentmesh"), *args],
            cwd=self.work,
            env=self.env | (env or {}),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel without extras in a fresh virtualenv, its dependencies at the lock's versions
    (from pip's cache or the index): what `pip install agentmesh` gives."""
    where = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(where / "dist")
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    installed = subprocess.run(
        [*pip, "-c", str(ROOT / "requirements.lock"), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    (where / "work").mkdir()
    return Installed(venv, where / "work")


def test_a_plain_install_is_the_wheels_without_any_extra_and_imports_none(plain: Installed) -> None:
    assert plain.run("--version").stdout.strip() == f"agentmesh {VERSION}"
    probe = f"""
import importlib.util
import agentmesh_cli, agentmesh_cli.up, agentmesh_gateway.main, agentmesh.runtime.main, agentmesh.telemetry
import agentmesh_services.researcher

def present(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a package above it is missing
        return False

print(agentmesh_cli.__file__)
print([module for module in {sorted(EXTRA_MODULES.values())!r} if present(module)])
"""
    shown = subprocess.run(
        [str(plain.venv / "bin" / "python"), "-c", probe],
        cwd=plain.work,
        env=plain.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr  # the plain paths import no extra's module
    where, extras = shown.stdout.splitlines()
    assert where.startswith(str(plain.venv)), where  # the wheel's copy, not the checkout's
    assert extras == "[]"


def test_each_missing_extra_is_one_line_naming_it(plain: Installed) -> None:
    cases = {
        "postgres": (["gateway", "--port", "0", "--store", "postgresql://am@127.0.0.1:9/db"], {}),
        "gemini": (["agent", "researcher", "--port", "0"], {"AGENTMESH_LLM": "gemini"}),
        "openai": (["agent", "writer", "--port", "0"], {"AGENTMESH_LLM": "openai"}),
        "otlp": (["agent", "critic", "--port", "0"], {"OTEL_TRACES_EXPORTER": "otlp"}),
    }
    for extra, (args, env) in cases.items():
        result = plain.run(*args, env=env, timeout=60)
        lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        assert result.returncode == 1 and len(lines) == 1, (extra, result.stdout + result.stderr)
        assert f"pip install 'agentmesh[{extra}]'" in lines[0] and "Traceback" not in lines[0]


def test_the_go_and_typescript_agents_say_where_to_get_them(plain: Installed) -> None:
    for name, image in ELSEWHERE.items():
        result = plain.run("agent", name, "--port", "0", timeout=30)
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.count("\n") == 1 and "MODULE_NOT_FOUND" not in result.stderr
        assert f"{image}:{VERSION}" in result.stderr and "make install" in result.stderr, result.stderr


@pytest.fixture
def up(plain: Installed) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """`agentmesh up` on a mesh file naming every shipped agent at a free port: the running `up`,
    the gateway's address and the lines `up` printed until the mesh was up."""
    agents = "\n".join(
        f"  {name}: 127.0.0.1:{port}" for name, port in zip(AGENTS, free_ports(7), strict=True)
    )
    config = plain.work / "mesh.yaml"
    config.write_text(
        f"gateway: {{port: 0, store: {plain.work / 'gw.db'}}}\nllm: offline\nagents:\n{agents}\n"
    )
    process = subprocess.Popen(
        [str(plain.venv / "bin" / "agentmesh"), "up", "--config", str(config)],
        cwd=plain.work,
        env=plain.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    said: list[str] = []
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and (line := process.stdout.readline()):
            said.append(line)
            if match := re.search(r"gateway at (127\.0\.0\.1:\d+)", line):
                yield process, match.group(1), said
                break
        else:
            raise AssertionError("agentmesh up did not come up:\n" + "".join(said))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(30)


def test_up_starts_what_the_wheel_can_run_and_says_what_it_cannot(
    plain: Installed, up: tuple[subprocess.Popen[str], str, list[str]]
) -> None:
    process, gateway, said = up
    started = {line.split()[1] for line in said if "✓" in line}
    assert started == {*python_agents(), "gateway"}, said
    skipped = {line.split()[1]: line for line in said if "✗" in line}
    assert skipped.keys() == ELSEWHERE.keys(), said
    for name, image in ELSEWHERE.items():
        assert "not started" in skipped[name] and f"{image}:{VERSION}" in skipped[name], skipped[name]
    blocked = [line.strip() for line in said if line.strip().startswith("workflow ")]
    assert blocked == [
        "workflow trend-analysis cannot run here: it needs post-scheduler, trend-scanner, video-scriptor"
    ]

    research = plain.run("research", "Tidal energy", "--max-subtopics", "2", "--gateway", gateway)
    assert research.returncode == 0, research.stdout + research.stderr
    assert "Tidal energy" in research.stdout
    refused = plain.run("run", "trend-analysis", "-i", "topic=x", "--gateway", gateway)
    assert refused.returncode != 0 and "unknown agent 'trend-scanner'" in refused.stderr, refused.stderr

    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0


def test_an_installed_wheel_runs_the_demo_outside_the_checkout(plain: Installed) -> None:
    demo = plain.run("demo", "--topic", "Wind power at sea", timeout=180)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Wind power at sea" in demo.stdout.split("report", 1)[1]
    assert "mesh stopped (5 processes, exit codes [0])" in demo.stdout
