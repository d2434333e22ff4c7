"""The shipped agents an installation may lack, and where to get them.

The Python package carries the Python agents. The Go and TypeScript ones are programs a checkout's
`make install` builds (bin/, services/*/dist/), which a wheel does not have; they are also
published as the container images deploy/ runs. `agentmesh up` starts what it can and says, for
each of these it cannot start, how to get it; `agentmesh agent NAME` says so instead of failing
in Node or the shell.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agentmesh_services import AGENTS

#: Where the images are published (deploy/k8s, deploy/images/build-local.sh).
REGISTRY = "ghcr.io/agentmesh"
REPOSITORY = "https://github.com/agentmesh/agentmesh"
#: The files an interpreter is given to run (the one argument of a command worth checking).
_SCRIPTS = (".js", ".mjs", ".cjs", ".py")


@dataclass(frozen=True, slots=True)
class Image:
    """A shipped agent's container image: its language, its name, and the arguments before
    --host/--port that pick the agent (the Node image runs either TypeScript agent)."""

    language: str
    name: str
    args: tuple[str, ...] = ()


#: The shipped agents not written in Python, as deploy/k8s/base runs them.
IMAGES = {
    "trend-scanner": Image("Go", "agentmesh-go"),
    "video-scriptor": Image(
        "TypeScript", "agentmesh-node", ("services/typescript/dist/video_scriptor/main.js",)
    ),
    "post-scheduler": Image(
        "TypeScript", "agentmesh-node", ("services/typescript/dist/post_scheduler/main.js",)
    ),
}


def version() -> str:
    """This installation's version of agentmesh (the images carry the same tag)."""
    try:
        return importlib.metadata.version("agentmesh")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def missing(argv: Sequence[str], root: Path) -> str | None:
    """What of this command is not on this machine, run from `root`: its program, or the script
    it gives an interpreter; None when both are there."""
    program = argv[0]
    if os.sep in program:
        path = root / program
        if not (path.is_file() and os.access(path, os.X_OK)):
            return program
    elif shutil.which(program) is None:
        return program
    script = next((arg for arg in argv[1:] if not arg.startswith("-")), "")
    if script.endswith(_SCRIPTS) and not (root / script).is_file():
        return script
    return None


def image_of(name: str) -> str:
    return f"{REGISTRY}/{IMAGES[name].name}:{version()}"


def how_to_get(name: str, port: int) -> str:
    """Where to get a shipped agent this installation cannot start, serving on `port`: one line."""
    image = IMAGES[name]
    run = ["docker", "run", "-p", f"{port}:{port}", image_of(name), *image.args]
    run += ["--host", "0.0.0.0", "--port", str(port)]
    return (
        f"a {image.language} agent, not part of the Python package: run its image"
        f" ({' '.join(run)}) or build it with `make install` in a checkout of {REPOSITORY}"
    )


def unavailable(name: str, argv: Sequence[str], root: Path, port: int) -> str | None:
    """Why a shipped agent cannot start here and how to get it, serving on `port` (0: its default
    port); None when it can, or when it is not one whose image is known (its failure to start
    then says what went wrong)."""
    if name not in IMAGES:
        return None
    lacking = missing(argv, root)
    if lacking is None:
        return None
    return f"{lacking} is missing; {how_to_get(name, port or AGENTS[name].default_port)}"
