"""Choosing a feature whose extra is not installed is one line naming the pip command, not an
ImportError trace: the real CLI in a subprocess, with the extra's modules made unimportable (as a
plain `pip install agentmesh` leaves them; tests/cli/test_wheel.py runs such an install)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

#: The CLI, with these modules unimportable: `None` in sys.modules is what a missing one looks
#: like to an import (ModuleNotFoundError naming it).
WITHOUT = (
    "import sys; blocked = sys.argv[1].split(','); sys.modules.update(dict.fromkeys(blocked));"
    " sys.argv = ['agentmesh', *sys.argv[2:]]; from agentmesh_cli import main; main()"
)


def agentmesh_without(
    blocked: Sequence[str], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT, ",".join(blocked), *args],
        env={**os.environ, "AGENTMESH_LLM": "offline", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout + result.stderr
    assert "Traceback" not in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("extra", "blocked", "args", "env"),
    [
        (
            "postgres",
            ["asyncpg"],
            ["gateway", "--port", "0", "--store", "postgresql://am@127.0.0.1:9/db"],
            {},
        ),
        ("gemini", ["google.genai"], ["agent", "researcher", "--port", "0"], {"AGENTMESH_LLM": "gemini"}),
        ("openai", ["openai"], ["agent", "writer", "--port", "0"], {"AGENTMESH_LLM": "openai"}),
        (
            "gemini",
            ["google.genai"],
            ["gateway", "--port", "0", "--store", "{tmp}/gw.db"],
            {"AGENTMESH_LLM": "gemini"},
        ),
        (
            "otlp",
            ["opentelemetry.exporter.otlp"],
            ["agent", "analyst", "--port", "0"],
            {"OTEL_TRACES_EXPORTER": "otlp"},
        ),
        (
            "otlp",
            ["opentelemetry.exporter.otlp"],
            ["gateway", "--port", "0", "--store", "{tmp}/gw.db"],
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        ),
    ],
)
def test_a_missing_extra_is_one_line_that_names_it(
    extra: str, blocked: list[str], args: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    result = agentmesh_without(blocked, *(arg.format(tmp=tmp_path) for arg in args), env=env)
    assert result.returncode == 1
    line = one_line(result)
    assert "cannot serve" in line and f"pip install 'agentmesh[{extra}]'" in line, line


def test_a_module_missing_from_an_installed_extra_is_still_an_import_error() -> None:
    # google-genai is there but a module it needs is not: a broken install, which the message
    # for a missing extra would hide.
    result = agentmesh_without(
        ["httpx2"], "agent", "researcher", "--port", "0", env={"AGENTMESH_LLM": "gemini"}
    )
    assert result.returncode != 0
    assert "ModuleNotFoundError" in result.stderr and "agentmesh[gemini]" not in result.stderr


def test_the_plain_paths_import_no_extras_module() -> None:
    # Installed here (the dev extra has them all), yet not loaded by the CLI, the gateway on
    # SQLite, an agent on the offline model or the tracing set-up: a plain install lacks them.
    probe = (
        "import sys, agentmesh_cli, agentmesh_cli.up, agentmesh_gateway.main, agentmesh.runtime.main,"
        " agentmesh.telemetry, agentmesh_services.researcher, agentmesh_gateway.store;"
        " print(sorted(m for m in sys.modules if m.split('.')[0] in ('openai', 'asyncpg')"
        " or m.startswith(('google.genai', 'opentelemetry.exporter'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
