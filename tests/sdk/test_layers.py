"""Layers run one way: the SDK imports no layer above it, the gateway not the agents, and only the
command line composes them. Checked over the source tree with `ast`, and the checker on a broken tree."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.support import ROOT

#: Each package, where it lives, and the packages it must never import.
LAYERS = {
    "agentmesh": (ROOT / "agentmesh", {"agentmesh_gateway", "agentmesh_services", "agentmesh_cli"}),
    "agentmesh_gateway": (ROOT / "gateway" / "agentmesh_gateway", {"agentmesh_services", "agentmesh_cli"}),
    "agentmesh_services": (ROOT / "services" / "agentmesh_services", {"agentmesh_gateway", "agentmesh_cli"}),
}


def imported(path: Path) -> Iterator[str]:
    """Every module a file imports, at the top or inside a function."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def violations(directory: Path, forbidden: set[str]) -> list[str]:
    return [
        f"{path.relative_to(directory.parent)} imports {module}"
        for path in sorted(directory.rglob("*.py"))
        for module in imported(path)
        if module.split(".")[0] in forbidden
    ]


def test_each_layer_imports_only_what_lies_below_it() -> None:
    for name, (directory, forbidden) in LAYERS.items():
        assert directory.is_dir(), name
        assert violations(directory, forbidden) == [], name


def test_the_check_finds_an_import_that_runs_the_wrong_way(tmp_path: Path) -> None:
    package = tmp_path / "agentmesh"
    package.mkdir()
    (package / "fine.py").write_text("import json\nfrom agentmesh import errors\n")
    (package / "late.py").write_text("def f() -> None:\n    from agentmesh_cli.mesh import up\n")
    (package / "top.py").write_text("import agentmesh_gateway.engine\n")
    assert violations(package, {"agentmesh_gateway", "agentmesh_cli"}) == [
        "agentmesh/late.py imports agentmesh_cli.mesh",
        "agentmesh/top.py imports agentmesh_gateway.engine",
    ]
