"""deploy/compose.yaml runs what the dev overlay runs: for every workload, a service of the same
name with the same image, command (compose's entrypoint), args (compose's command), environment,
port and lock-down, and the gateway's mesh file the very file the overlay's ConfigMap holds. No
container engine is needed to compare them; a compose file broken on purpose shows that the
comparison catches a difference."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from tests.deploy.test_manifests import render
from tests.support import ROOT
from tests.support.manifests import Doc, arg_after, containers, mesh_file, workloads

COMPOSE = ROOT / "deploy" / "compose.yaml"


def differences(compose: dict[str, Any], docs: list[Doc]) -> list[str]:
    found = []
    services = compose["services"]
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    for doc in workloads(docs):
        name = doc["metadata"]["name"]
        service = services.get(name)
        if service is None:
            found.append(f"{name}: no compose service")
            continue
        container = containers(doc)[0]
        expected = {
            "image": container["image"],
            "entrypoint": container["command"],
            "command": [str(arg) for arg in container["args"]],
            "expose": [str(container["ports"][0]["containerPort"])],
            "user": "{runAsUser}:{runAsGroup}".format(**doc["spec"]["template"]["spec"]["securityContext"]),
            "read_only": True,
        }
        for key, value in expected.items():
            actual = service.get(key)
            if (list(map(str, actual)) if isinstance(actual, list) else actual) != value:
                found.append(f"{name}: {key} is {actual!r}, the overlay has {value!r}")
        for entry in container.get("env", []):
            ref = entry["valueFrom"]["configMapKeyRef"]
            default = config_maps[ref["name"]][ref["key"]]
            given = str(service.get("environment", {}).get(entry["name"], ""))
            if given not in (default, f"${{{entry['name']}:-{default}}}"):
                found.append(f"{name}: {entry['name']} is {given!r}, the overlay has {default!r}")
    gateway = services.get("gateway", {})
    mounts = dict(
        volume.rsplit(":", 2)[:2] for volume in gateway.get("volumes", []) if volume.count(":") == 2
    )
    # The file the overlay's gateway reads (its --config), wherever the overlay puts it.
    config = next(
        (
            arg_after(containers(d)[0], "--config")
            for d in workloads(docs)
            if d["metadata"]["name"] == "gateway"
        ),
        None,
    )
    source = {target: src for src, target in mounts.items()}.get(config or "")
    mounted = COMPOSE.parent / source if source is not None else None
    if mounted is None or not mounted.is_file() or yaml.safe_load(mounted.read_text()) != mesh_file(docs):
        found.append("gateway: its mesh file is not the overlay's")
    return found


def test_compose_runs_what_the_dev_overlay_runs() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    assert differences(compose, render("dev")) == []
    assert set(compose["services"]) == {d["metadata"]["name"] for d in workloads(render("dev"))}


def test_the_comparison_catches_a_difference() -> None:
    docs = render("dev")
    compose = yaml.safe_load(COMPOSE.read_text())
    broken = copy.deepcopy(compose)
    broken["services"]["writer"]["command"][-1] = "1"
    del broken["services"]["critic"]
    broken["services"]["gateway"]["volumes"][0] = "./elsewhere.yaml:/etc/agentmesh/config/mesh.yaml:ro"
    problems = differences(broken, docs)
    assert any(p.startswith("writer: command") for p in problems), problems
    assert "critic: no compose service" in problems
    assert "gateway: its mesh file is not the overlay's" in problems
