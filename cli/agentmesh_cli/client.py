"""Talking to a gateway from the command line: the client, and errors as lines a person can act on."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console

from agentmesh.client import Client, default_target
from agentmesh.errors import AgentMeshError, InvalidInput, InvalidWorkflow, Unavailable
from agentmesh.tls import ClientTLS, TLSConfigError

DEFAULT_GATEWAY = default_target()
GatewayOption = typer.Option(DEFAULT_GATEWAY, "--gateway", help="Gateway address (env AGENTMESH_GATEWAY).")
TOKEN_ENV = "AGENTMESH_TOKEN"  # noqa: S105 - the variable's name, not a token
err = Console(stderr=True, soft_wrap=True)


@dataclass
class Access:
    """How the CLI reaches the gateway beyond its address: TLS files and a bearer token.

    Set by the global options (`agentmesh --tls-ca CA --token T COMMAND`); the client
    certificate for mutual TLS comes from AGENTMESH_TLS_CERT/AGENTMESH_TLS_KEY.
    """

    tls_ca: str = ""
    token: str = ""


access = Access()


class CliError(Exception):
    """A failure to report as one line (or a short list) and a non-zero exit, never a traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@asynccontextmanager
async def connected(address: str) -> AsyncIterator[Client]:
    """A client of the gateway at `address`; what the gateway refuses becomes a CliError."""
    try:
        tls = ClientTLS.from_settings(
            access.tls_ca, os.environ.get("AGENTMESH_TLS_CERT"), os.environ.get("AGENTMESH_TLS_KEY")
        )
        credentials = tls.credentials() if tls is not None else False
    except TLSConfigError as exc:
        raise CliError(str(exc), exit_code=2) from None
    try:
        client = await Client.connect(address, tls=credentials, token=access.token or None, timeout=5)
    except Unavailable:
        raise CliError(
            f"cannot reach the gateway at {address} (is `agentmesh up` running? try --gateway)"
        ) from None
    try:
        yield client
    except Unavailable as exc:
        raise CliError(f"lost the gateway at {address}: {exc.message}") from None
    except AgentMeshError as exc:
        raise CliError(describe(exc)) from None
    finally:
        await client.close()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one error line; the exit to raise (2: the command was called wrong)."""
    err.print(f"[red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def run_command(work: Coroutine[Any, Any, int]) -> None:
    """Run a command's coroutine: a CliError is one line and an exit code; Ctrl-C exits 130."""
    try:
        code = asyncio.run(work)
    except CliError as exc:
        raise fail(str(exc), exc.exit_code) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    raise typer.Exit(code)


def describe(error: AgentMeshError) -> str:
    """An error as the CLI prints it: its message, or its field violations once each."""
    if isinstance(error, InvalidInput) and error.violations:
        header = "invalid workflow:" if isinstance(error, InvalidWorkflow) else "invalid input:"
        return "\n".join([header, *(f"  {v.field}: {v.description}" for v in error.violations)])
    return error.message
