"""The agent example in README.md, run exactly as written, as its own process."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.readme import README, example, serves_the_greeter


def readme_agent() -> str:
    return example("## Write an agent", "python")


def test_the_example_is_a_dozen_lines_of_code() -> None:
    code_lines = [line for line in readme_agent().splitlines() if line.strip()]
    assert len(code_lines) <= 15


async def test_the_readme_agent_serves_and_validates(tmp_path: Path) -> None:
    script = tmp_path / "greeter.py"
    script.write_text(readme_agent())
    await serves_the_greeter([sys.executable, str(script)])


def test_the_readme_skill_test_runs_as_written(tmp_path: Path) -> None:
    """The README's "Test an agent" example, with the README's agent beside it, under pytest."""
    section = README.read_text().split("### Test an agent", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert match
    (tmp_path / "greeter.py").write_text(readme_agent())
    (tmp_path / "test_greeter.py").write_text(match.group(1))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
