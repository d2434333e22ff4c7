"""The dev overlay run without a cluster: every container's command, args and env, exactly as
the rendered manifests give them, with each Service's DNS name resolving to loopback for the
gateway. Both shipped workflows then run through the gateway: a wrong flag, env var, port or DNS
name in a manifest fails here. Twice: from the built images (`buildah run` of each manifest's
image, its volumes and the gateway's /etc/hosts mounted in; `make images` builds them), and from
the checkout (the images' paths mapped onto it, the gateway's /etc/hosts bind-mounted in a
private mount namespace)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from agentmesh import Client
from agentmesh.health import wait_serving
from agentmesh_cli.process import ServerProcess
from tests.deploy.test_manifests import render
from tests.support import ROOT
from tests.support.manifests import Doc, container_ports, containers, workloads
from tests.support.scrape import scrape

pytestmark = pytest.mark.slow

# Where the images put what the checkout has elsewhere (deploy/images/*.Containerfile).
IMAGE_PATHS = {
    "agentmesh": str(ROOT / ".venv" / "bin" / "agentmesh"),
    "/usr/local/bin/trend-scanner": str(ROOT / "bin" / "trend-scanner"),
}


def unshare_available() -> bool:
    probe = ["unshare", "-m", "true"]
    return shutil.which("unshare") is not None and subprocess.run(probe, check=False).returncode == 0


def env_of(
    container: Doc, config_maps: dict[str, dict[str, str]], secrets: dict[str, dict[str, str]] | None = None
) -> dict[str, str]:
    """The container's environment, ConfigMap and Secret references resolved (Secrets: what the
    test gives as their content)."""
    env = {}
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        elif "configMapKeyRef" in entry["valueFrom"]:
            ref = entry["valueFrom"]["configMapKeyRef"]
            env[entry["name"]] = config_maps[ref["name"]][ref["key"]]
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = (secrets or {})[ref["name"]][ref["key"]]
    return env


def mounted(container: Doc, pod: Doc, config_maps: dict[str, dict[str, str]], root: Path) -> dict[str, Path]:
    """Each volume mount as a local directory: ConfigMaps written out, other volumes empty."""
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    places = {}
    for mount in container.get("volumeMounts", []):
        local = root / mount["name"]
        local.mkdir(parents=True, exist_ok=True)
        source = volumes.get(mount["name"], {})
        for key, text in config_maps.get(source.get("configMap", {}).get("name", ""), {}).items():
            (local / key).write_text(text)
        places[mount["mountPath"]] = local
    return places


def localize(text: str, places: dict[str, Path]) -> str:
    """`text` with each path under a mount point moved to the mount's local directory, in one pass."""
    if not places:
        return text
    alternatives = "|".join(re.escape(path) for path in sorted(places, key=len, reverse=True))
    pattern = rf"(?<![\w/.-])({alternatives})(?=/|$|[^\w.-])"
    return re.sub(pattern, lambda match: str(places[match.group(1)]), text)


def config_maps_of(docs: list[Doc]) -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}


def services_on_loopback(docs: list[Doc], hosts: Path, rest: str) -> None:
    """A hosts file resolving every Service's name to 127.0.0.1, followed by `rest`."""
    services = [d["metadata"]["name"] for d in docs if d["kind"] == "Service"]
    hosts.write_text("".join(f"127.0.0.1 {name}\n" for name in services) + rest)


Launch = tuple[str, list[str], dict[str, str]]


def images_built(docs: list[Doc]) -> bool:
    if shutil.which("buildah") is None:
        return False
    images = {containers(doc)[0]["image"] for doc in workloads(docs)}
    return all(
        subprocess.run(
            ["buildah", "inspect", "--type", "image", image], capture_output=True, check=False
        ).returncode
        == 0
        for image in images
    )


def plan_images(docs: list[Doc], workdir: Path) -> tuple[list[Launch], int, list[str]]:
    """`buildah run` of each workload's image with its command, args, env and volumes; and the
    working containers to remove afterwards."""
    config_maps = config_maps_of(docs)
    hosts = workdir / "hosts"
    services_on_loopback(docs, hosts, "127.0.0.1 localhost\n")
    launches: list[Launch] = []
    created: list[str] = []
    gateway_port = 0
    for doc in sorted(workloads(docs), key=lambda d: d["kind"] == "StatefulSet"):
        name = doc["metadata"]["name"]
        pod: dict[str, Any] = doc["spec"]["template"]["spec"]
        container = containers(doc)[0]
        places = mounted(container, pod, config_maps, workdir / name)
        for local in places.values():  # what the pod's user (its runAsUser) writes to
            os.chown(local, pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"])
        ctr = f"agentmesh-clusterless-{name}"
        subprocess.run(["buildah", "rm", ctr], capture_output=True, check=False)
        subprocess.run(
            ["buildah", "from", "--name", ctr, container["image"]], capture_output=True, check=True
        )
        created.append(ctr)
        argv = ["buildah", "run", "--isolation", "chroot"]
        argv += [f"--volume={local}:{path}" for path, local in places.items()]
        argv += [f"--env={key}={value}" for key, value in env_of(container, config_maps).items()]
        if doc["kind"] == "StatefulSet":
            gateway_port = container["ports"][0]["containerPort"]
            # The Services' names from this hosts file; --no-hosts, or buildah's own /etc/hosts
            # may be mounted over it.
            argv += ["--no-hosts", f"--volume={hosts}:/etc/hosts:ro"]
        launches.append(
            (name, [*argv, ctr, "--", *container["command"], *container["args"]], dict(os.environ))
        )
    return launches, gateway_port, created


def plan(
    workdir: Path, overlay: str = "dev", secrets: dict[str, dict[str, str]] | None = None
) -> tuple[list[Launch], int]:
    """What to start for each workload of the rendered overlay (agents first, then the gateway,
    one replica of each: they would share a port on one machine), and the gateway's port."""
    docs = render(overlay)
    config_maps = config_maps_of(docs)
    hosts = workdir / "hosts"
    services_on_loopback(docs, hosts, Path("/etc/hosts").read_text())
    launches: list[Launch] = []
    gateway_port = 0
    for doc in sorted(workloads(docs), key=lambda d: d["metadata"]["name"] == "gateway"):  # the gateway last
        pod: dict[str, Any] = doc["spec"]["template"]["spec"]
        container = containers(doc)[0]
        places = mounted(container, pod, config_maps, workdir / doc["metadata"]["name"])
        for local in places.values():  # files from ConfigMaps name paths in the image too
            for file in local.iterdir():
                file.write_text(localize(file.read_text(), places))
        # The image's paths become the checkout's; the manifest's mount paths become local ones.
        parts = container["command"] + container["args"]
        argv = [IMAGE_PATHS.get(part) or localize(part, places) for part in parts]
        if doc["metadata"]["name"] == "gateway":
            gateway_port = container["ports"][0]["containerPort"]
            argv = [
                "unshare",
                "-m",
                "sh",
                "-c",
                'mount --bind "$0" /etc/hosts && exec "$@"',
                str(hosts),
                *argv,
            ]
        env = {**os.environ, **env_of(container, config_maps, secrets)}
        launches.append((doc["metadata"]["name"], argv, env))
    return launches, gateway_port


def remove_containers(names: list[str]) -> None:
    for name in names:
        subprocess.run(["buildah", "rm", name], capture_output=True, check=False)


@pytest_asyncio.fixture(scope="module", params=["images", "checkout"])
async def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    workdir = tmp_path_factory.mktemp(f"clusterless-{request.param}")
    created: list[str] = []
    if request.param == "images":
        docs = render("dev")
        if not images_built(docs):
            pytest.skip("the images are not built: `make images` (CI runs it)")
        launches, gateway_port, created = plan_images(docs, workdir)
    else:
        if not unshare_available():
            pytest.skip("needs unshare -m (root) to give the gateway its own /etc/hosts")
        launches, gateway_port = plan(workdir)
    processes: list[ServerProcess] = []
    try:
        for name, argv, env in launches:
            process = ServerProcess(argv, env, name=name, cwd=ROOT)
            await process.start()  # one that fails to start has exited: nothing to stop
            processes.append(process)
        await wait_serving(f"127.0.0.1:{gateway_port}", timeout=30)
        yield f"127.0.0.1:{gateway_port}"
    finally:
        for process in reversed(processes):
            await process.stop()
        await asyncio.to_thread(remove_containers, created)


async def test_both_shipped_workflows_run_on_the_rendered_dev_overlay(cluster: str) -> None:
    async with await Client.connect(cluster) as client:
        agents = {agent.name: agent for agent in await client.list_agents()}
        assert set(agents) == {
            "researcher",
            "analyst",
            "writer",
            "critic",
            "trend-scanner",
            "video-scriptor",
            "post-scheduler",
        }
        research = await client.start(
            "research", {"topic": "Benefits of open source", "depth": "quick", "max_subtopics": 2}
        )
        trends = await client.start("trend-analysis", {"topic": "robots"})
        # An agent the gateway cannot reach leaves its step waiting for a replica: fail, not hang.
        async with asyncio.timeout(60):
            assert (await research.result()).outputs
            assert (await trends.result()).outputs


async def test_every_workload_serves_metrics_and_probes_where_the_manifests_say(cluster: str) -> None:
    for doc in workloads(render("dev")):
        port = container_ports(containers(doc)[0])["metrics"]
        try:
            families = await scrape(port)
        except OSError as exc:
            raise AssertionError(f"{doc['metadata']['name']}: no metrics on :{port}: {exc}") from None
        assert "grpc_server_handled" in families, doc["metadata"]["name"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:  # noqa: ASYNC210
            assert response.status == 200
