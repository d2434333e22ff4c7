"""Run the A2A TCK (a2aproject/a2a-tck, branch 1.0-dev) against the gateway, on each binding.

    python scripts/a2a_tck.py --tck /path/to/a2a-tck [--transports grpc,jsonrpc,http_json]

Starts the TCK's scenario agent (tests/support/tck_agent.py) and a gateway (SQLite store in a
temporary directory, HTTP port, ports the OS picks) that exposes it as the A2A agent
`agents/tck`, runs the TCK once per transport against that agent's card, writes each run's
reports and a summary (summary.md, summary.json) to --out, and stops everything.

The TCK runs in its own interpreter (--tck-python, default TCK/.venv/bin/python), set up once
beforehand: `python3 -m venv TCK/.venv && TCK/.venv/bin/pip install -e TCK`. Nothing is
downloaded here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agentmesh.client import Client
from agentmesh_cli.launch import LocalMesh
from agentmesh_cli.process import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
AGENT = ROOT / "tests" / "support" / "tck_agent.py"
TRANSPORTS = ("grpc", "jsonrpc", "http_json")
LEVELS = ("MUST", "SHOULD", "MAY")
#: The exposed agent the TCK tests: its card is at SUT/.well-known/agent-card.json.
SUT_PATH = "/a2a/agents/tck"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def serve(workdir: Path, logs: Path, streaming_timeout: str) -> tuple[LocalMesh, str]:
    """The scenario agent and a gateway exposing it, up; and the URL of the agent's A2A card."""
    # The agent reads the A2A message id of a run from the gateway: it must know the gateway's
    # address before the gateway (which must know the agent's port) starts.
    grpc_port = free_port()
    env = {
        **os.environ,
        "AGENTMESH_GATEWAY": f"127.0.0.1:{grpc_port}",
        "TCK_STREAMING_TIMEOUT": streaming_timeout,
    }
    mesh = LocalMesh(workdir / "runs.db", port=grpc_port, log_dir=logs, gateway_args=["--http-port", "0"])
    agent = ServerProcess(
        [sys.executable, str(AGENT), "--host", "127.0.0.1", "--port", "0"],
        env,
        name="tck",
        log_file=logs / "tck.log",
        cwd=ROOT,
    )
    mesh.add_agent("tck", process=agent)
    await mesh.start()
    try:
        # The agent's A2A card shows its skills once the gateway has read its card.
        async with await Client.connect(mesh.target) as client, asyncio.timeout(30):
            while True:
                if any(a.name == "tck" and a.skills for a in await client.list_agents()):
                    break
                await asyncio.sleep(0.05)
    except BaseException:
        await mesh.stop()
        raise
    assert mesh.gateway is not None
    http_port = mesh.gateway.logged("http listening")[0]["port"]
    return mesh, f"http://127.0.0.1:{http_port}{SUT_PATH}"


def tck_command(settings: Settings, sut: str, transport: str) -> tuple[list[str], dict[str, str]]:
    """The command of one TCK run (one transport) and its environment; the last run's reports gone."""
    shutil.rmtree(settings.tck / "reports", ignore_errors=True)
    env = {**os.environ, "TCK_STREAMING_TIMEOUT": settings.streaming_timeout}
    args = [settings.python, "run_tck.py", "--sut-host", sut, "--transport", transport, "--"]
    if settings.shims:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "scripts"), env.get("PYTHONPATH")]))
        args += ["-p", "a2a_tck_shims"]
    return [*args, *settings.pytest_args], env


def log_file(settings: Settings, transport: str) -> IO[str]:
    return (settings.out / f"{transport}.log").open("w")


def keep_reports(settings: Settings, transport: str) -> None:
    reports = settings.tck / "reports"
    if reports.exists():
        shutil.copytree(reports, settings.out / transport, dirs_exist_ok=True)


async def run_tck(settings: Settings, sut: str, transport: str) -> int:
    """One TCK run, its output in OUT/TRANSPORT.log and its reports in OUT/TRANSPORT/; a run
    cancelled (Ctrl-C, SIGTERM) is stopped too."""
    args, env = tck_command(settings, sut, transport)
    with log_file(settings, transport) as log:
        process = await asyncio.create_subprocess_exec(
            *args, cwd=settings.tck, env=env, stdout=log, stderr=log
        )
        try:
            return await process.wait()
        finally:
            if process.returncode is None:
                process.terminate()
                await process.wait()
            keep_reports(settings, transport)


#: What the TCK records the Agent Card's requirements under, in every run alike.
CARD = "agent_card"


def outcomes(report: dict[str, Any], transport: str) -> dict[str, tuple[str, str, str]]:
    """Each requirement tested on `transport`: its level, its outcome (PASS, FAIL, SKIPPED: not
    applicable to this agent) and its first error. A requirement with several tests fails if any
    does (the report's per-transport entry keeps only the last test's)."""
    found = {}
    for rid, requirement in report["per_requirement"].items():
        if transport not in requirement["transports"]:
            continue
        outcome = "FAIL" if requirement["status"] == "FAIL" else requirement["transports"][transport]
        error = next(iter(requirement["errors"]), "").strip().splitlines()
        found[rid] = (requirement["level"], outcome, error[-1][:200] if error else "")
    return found


def summarize(out: Path, transports: list[str], tck_commit: str) -> tuple[str, dict[str, Any]]:
    rows, failing, results = [], [], {}
    reports = {t: out / t / "compatibility.json" for t in transports}
    for transport in [*transports, CARD]:
        path = reports.get(transport) or next((p for p in reports.values() if p.exists()), None)
        if path is None or not path.exists():
            rows.append(f"| {transport} | (no report) | | | |")
            continue
        found = outcomes(json.loads(path.read_text()), transport)
        results[transport] = {rid: {"level": lv, "outcome": o} for rid, (lv, o, _) in sorted(found.items())}
        tally = Counter((level, outcome) for level, outcome, _ in found.values())
        cells = [f"{tally[level, 'PASS']} / {tally[level, 'FAIL']}" for level in LEVELS]
        skipped = sum(n for (_, outcome), n in tally.items() if outcome == "SKIPPED")
        name = "Agent Card (any transport)" if transport == CARD else transport
        rows.append(f"| {name} | {' | '.join(cells)} | {skipped} |")
        failing += [
            f"| {name} | {rid} | {level} | {error.replace('|', '/')} |"
            for rid, (level, outcome, error) in sorted(found.items())
            if outcome == "FAIL"
        ]
    lines = [
        f"A2A TCK (a2aproject/a2a-tck 1.0-dev, {tck_commit[:12]}) against agentmesh's gateway:"
        " requirements passed / failed, per transport.",
        "",
        "| Transport | MUST | SHOULD | MAY | Not applicable |",
        "|---|---|---|---|---|",
        *rows,
    ]
    if failing:
        lines += ["", "| Transport | Failing requirement | Level | First error |", "|---|---|---|---|"]
        lines += failing
    return "\n".join(lines) + "\n", {"tck_commit": tck_commit, "results": results}


def commit_of(tck: Path) -> str:
    found = subprocess.run(["git", "-C", str(tck), "rev-parse", "HEAD"], capture_output=True, text=True)
    return found.stdout.strip() or "unknown"


@dataclass(frozen=True)
class Settings:
    tck: Path
    python: str
    transports: tuple[str, ...]
    out: Path
    shims: bool
    streaming_timeout: str
    pytest_args: tuple[str, ...]


async def run(settings: Settings) -> dict[str, int]:
    """The mesh up, the TCK run on each transport, the mesh stopped; each run's exit code."""
    # Stopped (SIGTERM) as on Ctrl-C, once: the TCK and the mesh are stopped on the way out.
    main_task = asyncio.current_task()
    assert main_task is not None

    def stop() -> None:
        if not main_task.cancelling():
            main_task.cancel()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop)
    codes = {}
    with tempfile.TemporaryDirectory(prefix="a2a-tck-") as workdir:
        mesh, sut = await serve(Path(workdir), settings.out / "logs", settings.streaming_timeout)
        try:
            print(f"SUT {sut}", flush=True)
            for transport in settings.transports:
                print(f"running the TCK on {transport} ...", flush=True)
                codes[transport] = await run_tck(settings, sut, transport)
        finally:
            await mesh.stop()
    return codes


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    tck: Path = args.tck.resolve()
    python = args.tck_python or str(tck / ".venv" / "bin" / "python")
    if not (tck / "run_tck.py").exists() or not Path(python).exists():
        print(
            f"no TCK at {tck} (with an interpreter at {python}): clone a2aproject/a2a-tck -b 1.0-dev,"
            " then python3 -m venv TCK/.venv && TCK/.venv/bin/pip install -e TCK",
            file=sys.stderr,
        )
        return 2
    settings = Settings(
        tck=tck,
        python=python,
        transports=tuple(t for t in args.transports.split(",") if t),
        out=args.out.resolve(),
        shims=not args.no_shims,
        streaming_timeout=args.streaming_timeout,
        pytest_args=tuple(args.pytest_args),
    )
    settings.out.mkdir(parents=True, exist_ok=True)
    try:
        codes = asyncio.run(run(settings))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("stopped: the TCK, the gateway and the agent with it", file=sys.stderr)
        return 130
    text, data = summarize(settings.out, list(settings.transports), commit_of(tck))
    data["exit_codes"] = codes
    (settings.out / "summary.md").write_text(text)
    (settings.out / "summary.json").write_text(json.dumps(data, indent=2) + "\n")
    print(text)
    print(f"reports: {settings.out}")
    return 0 if all(code == 0 for code in codes.values()) else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tck", type=Path, required=True, help="a checkout of a2aproject/a2a-tck (1.0-dev)")
    parser.add_argument("--tck-python", default="", help="its interpreter (default TCK/.venv/bin/python)")
    parser.add_argument("--transports", default=",".join(TRANSPORTS), help="comma-separated; one run each")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "a2a-tck", help="reports and summary")
    parser.add_argument("--streaming-timeout", default="2.0", help="TCK_STREAMING_TIMEOUT for the agent")
    parser.add_argument(
        "--no-shims",
        action="store_true",
        help="run the TCK's clients as they are, without scripts/a2a_tck_shims.py (see there)",
    )
    parser.add_argument("pytest_args", nargs="*", help="passed on to the TCK's pytest (after --)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
