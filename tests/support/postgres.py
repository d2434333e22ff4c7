"""A real PostgreSQL server for the tests, started from the installed binaries in a temporary
directory (initdb, then postgres on a free port), never a mock. PostgreSQL refuses to run as
root, so under root it runs as the `postgres` user Debian's package creates."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def binaries() -> Path | None:
    """The directory of initdb and postgres (Debian keeps them under /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(uid: int | None) -> dict[str, object]:
    return {"user": uid} if uid is not None else {}


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A running PostgreSQL server; yields a URL of its `agentmesh` database."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql; `.ci/run` does)")
    owner = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="agentmesh-pg-"))
    data = root / "data"
    if owner is not None:
        os.chown(root, owner, -1)
    run = _as_owner(owner)
    subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "agentmesh",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        **run,  # type: ignore[call-overload]
    )
    port = _free_port()
    log = root / "postgres.log"
    server = subprocess.Popen(
        [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(root),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "ab"),  # noqa: SIM115 - the server's own for its life
        **run,  # type: ignore[call-overload]
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run(
                [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        url = f"postgresql://agentmesh@127.0.0.1:{port}/agentmesh"
        yield create_database(url, "agentmesh")
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(root, ignore_errors=True)


def create_database(server_url: str, name: str) -> str:
    """Create database `name` on the server of `server_url` (createdb); its URL."""
    bin_dir = binaries()
    assert bin_dir is not None
    base = server_url.rsplit("/", 1)[0]
    host_port = base.rpartition("@")[2]
    host, _, port = host_port.partition(":")
    subprocess.run(
        [str(bin_dir / "createdb"), "-h", host, "-p", port, "-U", "agentmesh", name],
        check=True,
        capture_output=True,
    )
    return f"{base}/{name}"
