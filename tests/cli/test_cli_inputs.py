"""`-i` as a person types it: KEY=VALUE typed by the workflow's inputs (never guessed from the
text), KEY:=JSON as given; a value of the wrong kind, or a malformed pair, one line and exit 2."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.support.mesh import Gateway, run_cli

TYPED = """\
name: typed
inputs:
  - {name: who, required: true}
  - {name: topic}
  - {name: when}
  - {name: n, default_value: 0}
  - {name: ok, default_value: false}
  - {name: extra, default_value: {}}
steps:
  - id: e
    agent: probe
    skill: echo
    input:
      key: typed
      value: {who: "${inputs.who}", topic: "${inputs.topic}", when: "${inputs.when}",
              n: "${inputs.n}", ok: "${inputs.ok}", extra: "${inputs.extra}"}
outputs:
  got: ${steps.e.output.value}
"""


def cli(gateway: Gateway, *args: str) -> tuple[int, str, str]:
    done = run_cli(*args, "--gateway", gateway.target)
    return done.returncode, done.stdout, done.stderr


async def test_values_are_strings_unless_the_input_says_otherwise(gateway: Gateway, tmp_path: Path) -> None:
    flow = tmp_path / "typed.yaml"
    flow.write_text(TYPED)
    code, out, err = await asyncio.to_thread(
        cli, gateway, "run", str(flow), "--json",
        "-i", "who=no", "-i", "topic=Norway: a history", "-i", "when=2026-01-01",
        "-i", "n=3", "-i", "ok=yes", "-i", "extra={tags: [a, 1]}",
    )  # fmt: skip
    assert code == 0, err
    completed = next(json.loads(line) for line in out.splitlines() if "run_completed" in line)
    assert completed["run_completed"]["outputs"]["got"] == {
        "who": "no",
        "topic": "Norway: a history",
        "when": "2026-01-01",
        "n": 3,
        "ok": True,
        "extra": {"tags": ["a", 1]},
    }


async def test_a_value_of_the_wrong_kind_is_one_line_and_exit_2(gateway: Gateway, tmp_path: Path) -> None:
    flow = tmp_path / "typed.yaml"
    flow.write_text(TYPED)
    for pair, expected in (
        ("n=three", "-i n=three: n takes a number (or give JSON with -i n:=...)"),
        ("ok=maybe", "-i ok=maybe: ok takes a boolean (true or false)"),
        ("extra={", "-i extra={: extra takes a list or an object"),
        ("extra=plain", "-i extra=plain: extra takes a list or an object"),
        ("n:=3x", "-i 'n:=3x': not JSON"),
        ("who", "-i 'who': expected KEY=VALUE or KEY:=JSON"),
    ):
        code, out, err = await asyncio.to_thread(cli, gateway, "run", str(flow), "-i", "who=x", "-i", pair)
        assert code == 2, (pair, out, err)
        assert expected in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
