"""The images `make images` builds (deploy/images/*.Containerfile), inspected and started with
their own entrypoint and default command: each runs as the fixed non-root user, carries its
version, and answers health SERVING on the port it exposes."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from typing import Any

import pytest

from agentmesh.health import wait_serving
from agentmesh_cli.process import ServerProcess

pytestmark = pytest.mark.slow

VERSION = "0.1.0"
IMAGES = {
    "python": ("ghcr.io/agentmesh/agentmesh-python", 50051),  # its default command is the gateway
    "node": ("ghcr.io/agentmesh/agentmesh-node", 50066),  # the video scriptor
    "go": ("ghcr.io/agentmesh/agentmesh-go", 50065),  # the trend scanner
}


def config_of(image: str) -> dict[str, Any] | None:
    if shutil.which("buildah") is None:
        return None
    found = subprocess.run(
        ["buildah", "inspect", "--type", "image", image], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        return None
    config: dict[str, Any] = json.loads(found.stdout)["OCIv1"]["config"]
    return config


@pytest.mark.parametrize("runtime", list(IMAGES))
async def test_the_image_runs_its_entrypoint_as_a_non_root_user_and_serves(runtime: str) -> None:
    name, port = IMAGES[runtime]
    image = f"{name}:{VERSION}"
    config = await asyncio.to_thread(config_of, image)
    if config is None:
        pytest.skip("the images are not built: `make images` (CI runs it)")
    assert config["User"] == "10001:10001"
    assert config["Labels"]["org.opencontainers.image.version"] == VERSION
    assert f"{port}/tcp" in config["ExposedPorts"]
    container = f"agentmesh-image-test-{runtime}"
    await asyncio.to_thread(subprocess.run, ["buildah", "rm", container], capture_output=True, check=False)
    await asyncio.to_thread(
        subprocess.run, ["buildah", "from", "--name", container, image], capture_output=True, check=True
    )
    command = [*config["Entrypoint"], *config.get("Cmd", [])]
    process = ServerProcess(
        ["buildah", "run", "--isolation", "chroot", container, "--", *command], name=runtime
    )
    try:
        await process.start()
        await wait_serving(f"127.0.0.1:{port}", timeout=30)
        assert process.logged("listening")[0]["port"] == port
    finally:
        await process.stop()
        await asyncio.to_thread(
            subprocess.run, ["buildah", "rm", container], capture_output=True, check=False
        )
