"""The optional dependencies (pip extras) and the one-line error a missing one becomes.

A plain `pip install agentmesh` gives the SDK, the client, the command line, the gateway on
SQLite and the offline model. What only some meshes need is an extra: a model's SDK, the
PostgreSQL driver, the OTLP exporters. Choosing one at run time without it installed is a
configuration mistake the user fixes with one command, so it is reported as that command,
not as an ImportError traceback.
"""

from __future__ import annotations

import importlib.util

import grpc

from agentmesh.errors import AgentMeshError

#: Each extra and the modules it provides: what is looked for before a feature uses it.
EXTRAS: dict[str, tuple[str, ...]] = {
    "gemini": ("google.genai",),
    "openai": ("openai",),
    "postgres": ("asyncpg",),
    "otlp": ("opentelemetry.exporter.otlp.proto.grpc", "opentelemetry.exporter.otlp.proto.http"),
}


class MissingExtra(AgentMeshError):
    """Something was asked for whose extra is not installed; the message is the fix."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "EXTRA_NOT_INSTALLED"

    def __init__(self, extra: str, wanted: str) -> None:
        super().__init__(
            f"{wanted} needs the {extra} extra, which is not installed: pip install 'agentmesh[{extra}]'",
            metadata={"extra": extra},
        )
        self.extra = extra


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a package above it is missing
        return False


def require_extra(extra: str, wanted: str, module: str | None = None) -> None:
    """Raise MissingExtra unless `module` (by default every module of `extra`) can be imported.

    Checked before importing, not by catching the import's error: `from google import genai`
    without it is a plain ImportError, and a module missing from an installed extra (a broken
    install) must stay the ImportError it is."""
    if not all(_importable(name) for name in ([module] if module else EXTRAS[extra])):
        raise MissingExtra(extra, wanted)
