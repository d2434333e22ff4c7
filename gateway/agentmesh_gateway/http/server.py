"""The gateway's HTTP port: one ASGI app (the surfaces' routes) served by uvicorn in the gateway's
own event loop, next to the gRPC server, with the same TLS files.

Uvicorn reads the certificate and key when it starts: a renewed Secret reaches the HTTP port at
the next restart, where the gRPC port picks it up at the next handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator, Sequence
from typing import Protocol

import uvicorn
from starlette.types import ASGIApp

from agentmesh.tls import ServerTLS

log = logging.getLogger("agentmesh.gateway.http")

#: Seconds open streams (server-sent events) get to end when the gateway stops.
SHUTDOWN_GRACE_SECONDS = 2


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The gateway stops on SIGTERM and SIGINT itself (agentmesh.server): uvicorn would put
        # its own handlers in their place for as long as it serves.
        yield


class Companion(Protocol):
    """Something a surface runs while the port serves (MCP's sessions): started before the port
    opens, stopped before it closes, since its open streams would hold uvicorn's shutdown up."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class HttpServer:
    def __init__(
        self, app: ASGIApp, tls: ServerTLS | None = None, companions: Sequence[Companion] = ()
    ) -> None:
        self._app = app
        self._tls = tls
        self._companions = list(companions)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        """Bind host:port (0 picks a free port) and serve; the bound port."""
        for companion in self._companions:
            await companion.start()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            sock.close()
            raise OSError(f"cannot listen on {host}:{port} for HTTP: {exc.strerror}") from None
        sock.listen(1024)
        sock.setblocking(False)
        tls: dict[str, object] = {}
        if self._tls is not None:
            tls = {"ssl_certfile": str(self._tls.cert), "ssl_keyfile": str(self._tls.key)}
            if self._tls.client_ca is not None:
                tls |= {"ssl_ca_certs": str(self._tls.client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
        config = uvicorn.Config(
            self._app,
            log_config=None,  # the gateway's JSON logging, not uvicorn's
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
            **tls,  # type: ignore[arg-type]
        )
        server = _Uvicorn(config)
        self._server = server
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name="http-server")
        async with asyncio.timeout(10):
            while not server.started:
                if self._task.done():
                    self._task.result()  # raises what stopped it
                    raise OSError(f"the HTTP server on {host}:{port} stopped at once")
                await asyncio.sleep(0.01)
        self.port = sock.getsockname()[1]
        return self.port

    async def stop(self) -> None:
        for companion in reversed(self._companions):
            await companion.stop()
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._task), SHUTDOWN_GRACE_SECONDS + 1)
        if not self._task.done():
            self._server.force_exit = True
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._server = self._task = None
