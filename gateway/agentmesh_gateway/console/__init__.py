"""The web console on the gateway's HTTP port: the files `make install` builds from console/ into
`static/` (shipped in the wheel as package data), served at `/`.

`index.html` answers `/` and every route the console draws itself (/runs, /runs/RUN_ID,
/agents/NAME, /workflows/NAME, /metrics), so that a reload or a shared link opens the same view;
it is never cached. The other files sit under /assets/ with a content hash in their names and
are cached for a year. Every answer carries a strict Content-Security-Policy: scripts, styles,
workers and connections from this origin only, nothing inline, no framing. The files need no
token (the API calls they make do: the console sends the bearer token as a header); without a
build (a source checkout before `make install`) `/` says how to make one.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

STATIC = Path(__file__).resolve().parent / "static"

#: The first path segments the console draws itself (index.html answers them all).
CLIENT_ROUTES = frozenset({"runs", "agents", "workflows", "metrics", "schedules"})

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".map": "application/json",
    ".json": "application/json",
    ".png": "image/png",
    ".woff2": "font/woff2",
}
COMPRESSIBLE = {".html", ".js", ".css", ".svg", ".map", ".json"}

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
IMMUTABLE = "public, max-age=31536000, immutable"

NOT_BUILT = (
    "The agentmesh console is not built in this installation.\n\n"
    "In a source checkout, run `make install`: it compiles console/ into\n"
    "gateway/agentmesh_gateway/console/static/, and the gateway serves it here at once.\n"
    "(The HTTP/JSON API under /v1/ works without it.)\n"
)


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str


def console_url(host: str, port: int, tls: bool = False) -> str:
    """Where a browser on this machine opens the console of a gateway bound to host:port."""
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"  # bound to every interface: this machine's loopback is one of them
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}/"


def is_console_path(path: str) -> bool:
    """Whether a request path is the console's (it needs no token; the API under /v1/ does)."""
    if path in ("/", "/index.html"):
        return True
    head = path.split("/", 2)[1]
    return head in CLIENT_ROUTES or head == "assets"


def _asset(path: Path) -> Asset:
    body = path.read_bytes()
    compress = path.suffix in COMPRESSIBLE and len(body) > 1024
    return Asset(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0) if compress else None,
        content_type=CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
    )


class Console:
    """The built files, read once (they change only with a new build; a missing build is looked
    for again on each request, so that `make install` next to a running gateway is enough)."""

    def __init__(self, static: Path = STATIC) -> None:
        self._static = static
        self._index: Asset | None = None
        self._assets: dict[str, Asset] = {}

    def _load(self) -> Asset | None:
        if self._index is None:
            index = self._static / "index.html"
            if not index.is_file():
                return None
            folder = self._static / "assets"
            files = sorted(folder.iterdir()) if folder.is_dir() else []
            self._assets = {file.name: _asset(file) for file in files if file.is_file()}
            self._index = _asset(index)
        return self._index

    def routes(self) -> list[BaseRoute]:
        methods = ["GET", "HEAD"]
        return [
            Route("/", self.index, methods=methods),
            Route("/index.html", self.index, methods=methods),
            *(Route(f"/{name}", self.index, methods=methods) for name in sorted(CLIENT_ROUTES)),
            *(Route(f"/{name}/{{id}}", self.index, methods=methods) for name in sorted(CLIENT_ROUTES)),
            Route("/assets/{name}", self.asset, methods=methods),
        ]

    async def index(self, request: Request) -> Response:
        index = self._load()
        if index is None:
            return PlainTextResponse(NOT_BUILT, status_code=404, headers=SECURITY_HEADERS)
        return _send(request, index, "no-cache")

    async def asset(self, request: Request) -> Response:
        if self._load() is None:
            return PlainTextResponse(NOT_BUILT, status_code=404, headers=SECURITY_HEADERS)
        found = self._assets.get(request.path_params["name"])
        if found is None:
            return PlainTextResponse("no such console file\n", status_code=404, headers=SECURITY_HEADERS)
        return _send(request, found, IMMUTABLE)


def _send(request: Request, asset: Asset, cache: str) -> Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": cache, "ETag": asset.etag, "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, headers=headers, media_type=asset.content_type)
