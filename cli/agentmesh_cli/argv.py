"""Global options anywhere on the command line, as people type them.

`agentmesh --gateway G runs` and `agentmesh runs --token T` are what people write; click reads
options only where they are declared. Before parsing, the client commands' connection options
are moved where they are declared: `--token` and `--tls-ca` (the top-level options) to the front,
`--gateway` (each command's) after the command. Commands that serve (`gateway`, `agent`, `up`)
have options of their own by those names (`gateway --tls-ca` is the CA for calling agents) and
are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Commands (and command groups) that talk to a gateway as its client.
CLIENT_COMMANDS = frozenset(
    {"run", "research", "watch", "runs", "get", "cancel", "respond", "agents", "metrics", "chat"}
    | {"workflows", "schedule"}
)
TOP_LEVEL = frozenset({"--token", "--tls-ca"})
PER_COMMAND = frozenset({"--gateway"})


def arrange(argv: Sequence[str]) -> list[str]:
    """`argv` (without the program) with the connection options where click looks for them."""
    args = list(argv)
    command_at = _command_index(args)
    if command_at is None or args[command_at] not in CLIENT_COMMANDS or "--" in args:
        return args
    front, command, rest = args[:command_at], args[command_at], args[command_at + 1 :]
    hoisted, front = _take(front, PER_COMMAND)
    top, rest = _take(rest, TOP_LEVEL)
    return [*front, *top, command, *rest, *hoisted]


def _command_index(args: list[str]) -> int | None:
    """Where the command is: the first argument that is neither an option nor an option's value."""
    index = 0
    while index < len(args):
        arg = args[index]
        if not arg.startswith("-"):
            return index
        name = arg.split("=", 1)[0]
        index += 2 if "=" not in arg and name in TOP_LEVEL | PER_COMMAND else 1
    return None


def _take(args: list[str], names: frozenset[str]) -> tuple[list[str], list[str]]:
    """(the options named `names` with their values, what is left), both in order."""
    taken: list[str] = []
    left: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        name = arg.split("=", 1)[0]
        if name in names:
            if "=" in arg or index + 1 == len(args):
                taken.append(arg)
                index += 1
            else:
                taken += args[index : index + 2]
                index += 2
        else:
            left.append(arg)
            index += 1
    return taken, left
