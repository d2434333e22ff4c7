"""The Go kit as users get it: `go get` of its module path through a module proxy, no `replace`
and no path into the checkout. The proxy holds the kit as the repository's tag would publish it
(the module zip of kits/go, laid out as proxy.golang.org serves it); the kit's own dependencies
come from the public proxy. The README's greeter, copied out of README.md, builds in a module of
its own outside the checkout, runs, answers and passes the conformance kit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.readme import example, serves_the_greeter

KIT = ROOT / "kits" / "go"
MODULE = "github.com/agentmesh/agentmesh/kits/go"
VERSION = "v0.1.0"
# Directories a module zip leaves out, as golang.org/x/mod/zip.CreateFromDir does.
VCS_DIRS = {".bzr", ".git", ".hg", ".svn"}


def readme_go_agent() -> str:
    return example("### In Go", "go")


def go() -> str:
    found = shutil.which("go")
    assert found, "Go is a prerequisite of the test suite (see README)"
    return found


def test_the_go_example_is_about_fifteen_lines_of_code() -> None:
    code_lines = [line for line in readme_go_agent().splitlines() if line.strip()]
    assert len(code_lines) <= 20


def test_the_kit_readme_shows_the_same_greeter() -> None:
    assert example("## A greeter", "go", KIT / "README.md") == readme_go_agent()


def test_the_kit_declares_the_path_it_is_published_at() -> None:
    assert (KIT / "go.mod").read_text().splitlines()[0] == f"module {MODULE}"


def module_files(root: Path) -> list[Path]:
    """What a module zip of `root` holds: its regular files, without version control directories
    or nested modules (a directory with its own go.mod is another module). The kit vendors
    nothing, so the rule for vendor directories is left out."""
    files: list[Path] = []
    for directory, subdirectories, names in os.walk(root):
        here = Path(directory)
        subdirectories[:] = sorted(
            name for name in subdirectories if name not in VCS_DIRS and not (here / name / "go.mod").is_file()
        )
        files += [
            here / name
            for name in sorted(names)
            if (here / name).is_file() and not (here / name).is_symlink()
        ]
    return files


def publish(proxy: Path) -> None:
    """kits/go as VERSION of MODULE in `proxy`, a directory in GOPROXY's layout (`go help goproxy`)."""
    versions = proxy / MODULE / "@v"
    versions.mkdir(parents=True)
    (versions / "list").write_text(f"{VERSION}\n")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    (versions / f"{VERSION}.info").write_text(json.dumps({"Version": VERSION, "Time": now}))
    shutil.copy(KIT / "go.mod", versions / f"{VERSION}.mod")
    with zipfile.ZipFile(versions / f"{VERSION}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for path in module_files(KIT):
            archive.write(path, f"{MODULE}@{VERSION}/{path.relative_to(KIT).as_posix()}")


@pytest.fixture(scope="module")
def greeter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's program in a module of its own, as a user lays it out: `go mod init`, then
    `go get` of the kit by its path alone, then `go build`."""
    proxy = tmp_path_factory.mktemp("goproxy")
    publish(proxy)
    module = tmp_path_factory.mktemp("greeter")
    assert not module.resolve().is_relative_to(ROOT), "the module must not see go.work or the kit"
    (module / "main.go").write_text(readme_go_agent())
    downloaded = subprocess.run(
        [go(), "env", "GOMODCACHE"], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {
        **os.environ,
        "GOWORK": "off",
        # The kit from the proxy made here; anything else from this machine's module cache (which
        # is itself in the proxy layout) when there, else from the public proxy. The module cache
        # of the build is a fresh one, so that no kit downloaded before can stand in for this one.
        "GOPROXY": f"{proxy.as_uri()},{Path(downloaded, 'cache', 'download').as_uri()},https://proxy.golang.org",
        "GOMODCACHE": str(tmp_path_factory.mktemp("gomodcache")),
        # The checksum database does not know a module that was never published; it vouches for
        # the kit's dependencies as for anyone's.
        "GONOSUMDB": MODULE,
        "GOFLAGS": "-mod=mod -modcacherw",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
    }

    def run(*args: str) -> None:
        result = subprocess.run(
            [go(), *args], cwd=module, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert result.returncode == 0, f"go {' '.join(args)}:\n{result.stdout}\n{result.stderr}"

    run("mod", "init", "greeter")
    run("get", f"{MODULE}@latest")  # as README.md says
    go_mod = (module / "go.mod").read_text()
    assert f"{MODULE} {VERSION}" in go_mod and "replace" not in go_mod, go_mod
    gofmt = subprocess.run(["gofmt", "-l", "main.go"], cwd=module, capture_output=True, text=True, check=True)
    assert not gofmt.stdout, "the README's Go is not as gofmt writes it"
    # -trimpath as `make install` builds the Go agents, which also lets the build cache serve the
    # dependencies compiled from the other module cache.
    run("build", "-trimpath", "-o", "greeter", ".")
    return module / "greeter"


async def test_the_readme_greeter_built_from_the_module_proxy_serves_and_conforms(greeter: Path) -> None:
    await serves_the_greeter([str(greeter)])
