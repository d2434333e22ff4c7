"""`agentmesh token`: static API tokens for the gateway, made here and stored there only as hashes."""

from __future__ import annotations

import json

import typer
from rich.console import Console

err = Console(stderr=True, soft_wrap=True)

token_app = typer.Typer(help="Static API tokens for the gateway.", no_args_is_help=True)


@token_app.command("new")
def token_new_command(
    name: str = typer.Option(..., help="Who holds the token: runs it starts record this name."),
    role: str = typer.Option("operator", help="viewer, operator or admin."),
) -> None:
    """Make a token: print it once (stdout) and the entry for the gateway's tokens file (stderr)."""
    from agentmesh_gateway.auth import Role
    from agentmesh_gateway.auth.static_tokens import new_token, token_hash

    if Role.named(role) is None:
        err.print("[red]error:[/] --role must be viewer, operator or admin", highlight=False)
        raise typer.Exit(2)
    token = new_token()
    print(token)
    err.print("# add to the tokens file (only the hash is stored; the token is shown once):", highlight=False)
    err.print(
        f"  - {{name: {json.dumps(name)}, role: {role.lower()}, sha256: {token_hash(token)}}}",
        highlight=False,
    )
