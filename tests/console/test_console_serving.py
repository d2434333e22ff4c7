"""How the gateway serves the console's files: index.html at / and at every route the console
draws (never cached), hashed assets cached for a year (gzipped when asked), a strict
Content-Security-Policy, no token needed for the files while the API still wants one, and a clear
answer when the console was never built."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.testclient import TestClient

from agentmesh_gateway.console import Console, console_url, is_console_path
from tests.console.conftest import ConsoleMesh, console_mesh


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleMesh]:
    async with console_mesh(tmp_path_factory.mktemp("served"), tokens={"olivia": "operator"}) as running:
        yield running


async def test_index_answers_every_console_route_uncached_with_a_strict_policy(served: ConsoleMesh) -> None:
    async with httpx.AsyncClient(base_url=served.url()) as http:
        for path in (
            "/", "/runs", "/runs/0123abcd", "/agents/probe", "/workflows/pipeline", "/metrics",
            "/schedules", "/schedules/nightly",
        ):  # fmt: skip
            response = await http.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            assert response.headers["cache-control"] == "no-cache"
            policy = response.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "default-src 'none'" in policy
            assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
            assert "frame-ancestors 'none'" in policy
            assert response.headers["x-content-type-options"] == "nosniff"
        index = (await http.get("/")).text
        assert '<script type="module" src="/assets/console-' in index
        # Not the console's: the API's own 404, and an unknown page of the console's shape is 404 too.
        assert (await http.get("/v1/nothing-here")).status_code in (401, 404)
        assert (await http.get("/runs/a/b")).status_code == 404


async def test_assets_are_hashed_cached_for_a_year_and_gzipped(served: ConsoleMesh) -> None:
    async with httpx.AsyncClient(base_url=served.url()) as http:
        index = (await http.get("/")).text
        script = index.split('src="', 1)[1].split('"', 1)[0]
        style = index.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
        raw = await http.get(script, headers={"accept-encoding": "identity"})
        assert raw.headers["content-type"] == "text/javascript; charset=utf-8"
        assert raw.headers["cache-control"] == "public, max-age=31536000, immutable"
        packed = await http.get(script, headers={"accept-encoding": "gzip"})
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.content == raw.content  # httpx unpacks it
        assert int(packed.headers["content-length"]) < len(raw.content) / 2
        again = await http.get(script, headers={"if-none-match": raw.headers["etag"]})
        assert again.status_code == 304
        assert (await http.get(style)).headers["content-type"] == "text/css; charset=utf-8"
        assert (await http.get("/assets/console-NOTAHASH.js")).status_code == 404
        assert (await http.get("/assets/..%2F__init__.py")).status_code in (401, 404)


async def test_the_files_need_no_token_and_the_api_still_does(served: ConsoleMesh) -> None:
    async with httpx.AsyncClient(base_url=served.url()) as http:
        assert (await http.get("/runs")).status_code == 200
        refused = await http.get("/v1/caller")
        assert refused.status_code == 401
        token = {"authorization": f"Bearer {served.tokens['olivia']}"}
        caller = (await http.get("/v1/caller", headers=token)).json()
        assert caller["principal"] == "olivia" and caller["role"] == "CALLER_ROLE_OPERATOR"


def test_without_a_build_the_root_says_how_to_make_one(tmp_path: Path) -> None:
    app = Starlette(routes=Console(tmp_path / "static").routes())
    with TestClient(app) as http:
        for path in ("/", "/runs/x", "/assets/console-X.js"):
            response = http.get(path)
            assert response.status_code == 404
            assert "make install" in response.text
            assert "content-security-policy" in response.headers
    # Built later (make install next to a running gateway): served without a restart.
    (tmp_path / "static" / "assets").mkdir(parents=True)
    (tmp_path / "static" / "index.html").write_text("<!doctype html><title>console</title>")
    (tmp_path / "static" / "assets" / "app-ABC.js").write_text("export {};\n" * 300)
    with TestClient(app) as http:
        assert http.get("/metrics").text.startswith("<!doctype html>")
        script = http.get("/assets/app-ABC.js")
        assert script.headers["content-encoding"] == "gzip"
        assert gzip.decompress(gzip.compress(script.content)) == script.content


def test_console_paths_and_urls() -> None:
    for path in (
        "/",
        "/index.html",
        "/runs",
        "/runs/abc",
        "/agents/x",
        "/workflows/y",
        "/metrics",
        "/schedules",
        "/schedules/nightly",
        "/assets/a.js",
    ):
        assert is_console_path(path), path
    for path in (
        "/v1/runs",
        "/mcp",
        "/a2a/workflow/x",
        "/.well-known/agent-card.json",
        "/openapi.json",
        "/runsx",
    ):
        assert not is_console_path(path), path
    assert console_url("0.0.0.0", 8080) == "http://127.0.0.1:8080/"
    assert console_url("::1", 8080, tls=True) == "https://[::1]:8080/"
    assert console_url("127.0.0.1", 0) == "http://127.0.0.1:0/"
