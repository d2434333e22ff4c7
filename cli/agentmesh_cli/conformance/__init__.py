"""The conformance kit: `agentmesh conformance ADDR` checks any agent, in any language, against the
contract (see `checks` for what is checked) and reports each check's outcome."""

from __future__ import annotations

import json
from dataclasses import asdict

import grpc
from rich.console import Console
from rich.table import Table

from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc
from agentmesh_cli.conformance.checks import CHECKS, CheckFailed, Result, Subject

__all__ = ["CHECKS", "Result", "check_agent", "report"]

# Sending a request past any server's limit must be possible, to see it refused.
_OPTIONS = [
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
]


async def check_agent(target: str) -> list[Result]:
    """Every check against the agent at `target`, in order; one failing does not stop the others."""
    results: list[Result] = []
    async with grpc.aio.insecure_channel(target, options=_OPTIONS) as channel:
        subject = Subject(channel, pb_grpc.AgentServiceStub(channel))
        for name, check in CHECKS:
            try:
                results.append(Result(name, True, await check(subject)))
            except CheckFailed as exc:
                results.append(Result(name, False, str(exc)))
            except grpc.aio.AioRpcError as exc:
                results.append(Result(name, False, f"{exc.code().name}: {(exc.details() or '')[:200]}"))
            except Exception as exc:
                results.append(Result(name, False, f"{type(exc).__name__}: {str(exc)[:200]}"))
    return results


def report(console: Console, target: str, results: list[Result], *, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps({"target": target, "checks": [asdict(r) for r in results]}))
        return
    table = Table("check", "result", "detail", title=f"conformance of {target}", title_justify="left")
    for result in results:
        table.add_row(result.check, "[green]pass[/]" if result.ok else "[red]FAIL[/]", result.detail)
    console.print(table)
    failed = sum(not r.ok for r in results)
    console.print(f"{len(results) - failed} passed, {failed} failed", soft_wrap=True)
