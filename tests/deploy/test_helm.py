"""deploy/helm/agentmesh: linted by helm, rendered by `helm template` with its default and its
production values, and held to what the kustomize overlays are held to, by the very same code
(tests/deploy/test_manifests.py): strict validation against Kubernetes' schemas, then every check.
What only the chart has (values refused by its schema, an agent left out, a ServiceMonitor, an
issuer of your own, budgets following the replica floor) is rendered and checked the same way;
adding an agent is tests/deploy/test_add_agent.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentmesh_services import AGENTS
from tests.deploy.test_manifests import all_checks, spread_of_agents, validate_strictly
from tests.support import ROOT
from tests.support.manifests import (
    Doc,
    containers,
    mesh_file,
    mounts_apart,
    spread_on_own_pods,
    workloads,
)

HELM = shutil.which("helm", path=str(ROOT / ".tools" / "bin")) or shutil.which("helm")
CHART = ROOT / "deploy" / "helm" / "agentmesh"
VALUES = {"default": CHART / "values.yaml", "production": CHART / "values-production.yaml"}
NAMESPACE = "agentmesh"


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    if HELM is None:
        pytest.skip("helm is not installed; `make test` installs it")
    return subprocess.run([HELM, *args], capture_output=True, text=True, check=False, timeout=120)


def values_args(values: str | None, overrides: dict[str, Any] | None, tmp: Path) -> list[str]:
    """-f for the named values file, then -f for `overrides` (written out: helm merges files in
    order, as a user's own values file is merged over the chart's)."""
    args = ["-f", str(VALUES[values])] if values else []
    if overrides:
        extra = tmp / "overrides.yaml"
        extra.write_text(yaml.safe_dump(overrides))
        args += ["-f", str(extra)]
    return args


def render_chart(tmp: Path, values: str | None = None, overrides: dict[str, Any] | None = None) -> list[Doc]:
    done = helm(
        "template", "agentmesh", str(CHART), "--namespace", NAMESPACE, *values_args(values, overrides, tmp)
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.mark.parametrize("values", list(VALUES))
def test_helm_lint_passes_strictly(values: str, tmp_path: Path) -> None:
    done = helm("lint", "--strict", str(CHART), *values_args(values, None, tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


# Values helm must refuse (values.schema.json), and what it says about each.
REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "a store the gateway has not": (
        {"gateway": {"store": {"type": "mysql"}}},
        "at '/gateway/store/type': value must be one of 'sqlite', 'postgres'",
    ),
    "an agent without its ports": (
        {"agents": {"my-agent": {"image": "my-agent:1.0", "command": ["my-agent"]}}},
        "missing properties 'port', 'metricsPort'",
    ),
    "a misspelt key": (
        {"gateway": {"stroe": {"type": "sqlite"}}},
        "additional properties 'stroe' not allowed",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_helm_lint_refuses_values_outside_the_schema(case: str, tmp_path: Path) -> None:
    overrides, expected = REFUSED[case]
    done = helm("lint", "--strict", str(CHART), *values_args(None, overrides, tmp_path))
    assert done.returncode != 0
    assert expected in done.stdout + done.stderr


@pytest.mark.parametrize("values", list(VALUES))
def test_every_object_validates_strictly_against_kubernetes(values: str, tmp_path: Path) -> None:
    docs = render_chart(tmp_path, values)
    assert len(docs) >= 30
    validate_strictly(docs)


@pytest.mark.parametrize("values", list(VALUES))
def test_every_rendering_passes_the_checks(values: str, tmp_path: Path) -> None:
    assert all_checks(render_chart(tmp_path, values)) == []


def test_an_agent_set_to_null_is_left_out_and_the_checks_see_it(tmp_path: Path) -> None:
    docs = render_chart(tmp_path, "production", {"agents": {"writer": None}})
    assert not [d for d in docs if d["metadata"]["name"] == "writer"]
    assert "writer" not in mesh_file(docs)["agents"]
    # The shipped workflows need it: the checks over chart output catch its absence.
    assert "agent writer: no Deployment" in all_checks(docs)


def test_a_service_monitor_scrapes_every_workload_through_its_service(tmp_path: Path) -> None:
    overrides = {"monitoring": {"podMonitor": {"enabled": False}, "serviceMonitor": {"enabled": True}}}
    docs = render_chart(tmp_path, "production", overrides)
    validate_strictly(docs)
    assert all_checks(docs) == []
    assert [d["kind"] for d in docs if d["apiVersion"].startswith("monitoring.coreos.com/")] == [
        "ServiceMonitor"
    ]
    # Without its metrics port, a Service gives the ServiceMonitor nothing to scrape: the check says so.
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "critic")
    service["spec"]["ports"] = [p for p in service["spec"]["ports"] if p["name"] != "metrics"]
    assert "Deployment/critic: its Service has no port ['metrics'] to its metrics port" in all_checks(docs)


def test_budgets_follow_the_replica_floor(tmp_path: Path) -> None:
    def budgets(docs: list[Doc]) -> set[str]:
        return {d["metadata"]["name"] for d in docs if d["kind"] == "PodDisruptionBudget"}

    assert budgets(render_chart(tmp_path)) == set()
    production = render_chart(tmp_path, "production")
    assert budgets(production) == {d["metadata"]["name"] for d in workloads(production)}
    # Two replicas, but an HPA allowed down to one: no budget, and the checks agree.
    floor_one = render_chart(tmp_path, "production", {"agentDefaults": {"autoscaling": {"minReplicas": 1}}})
    assert budgets(floor_one) == {"gateway"}
    assert all_checks(floor_one) == []


def test_tls_from_an_issuer_of_your_own(tmp_path: Path) -> None:
    overrides = {"tls": {"issuerRef": {"kind": "ClusterIssuer", "name": "corporate-ca"}}}
    docs = render_chart(tmp_path, "production", overrides)
    assert all_checks(docs) == []
    issued = [d for d in docs if d["apiVersion"].startswith("cert-manager.io/")]
    # No self-signed CA of the chart's: only the workloads' certificate, from that issuer.
    assert [(d["kind"], d["metadata"]["name"]) for d in issued] == [("Certificate", "agentmesh-tls")]
    assert issued[0]["spec"]["issuerRef"] == {"kind": "ClusterIssuer", "name": "corporate-ca"}


# TLS and tokens on, the gateway on either store (the volumes differ: SQLite's data volume), and
# neither: every way the chart mounts volumes.
MOUNTS: dict[str, tuple[str | None, dict[str, Any]]] = {
    "default": (None, {}),
    "production (PostgreSQL)": ("production", {}),
    "production on SQLite": ("production", {"gateway": {"store": {"type": "sqlite"}}}),
    "TLS and tokens alone": (None, {"tls": {"enabled": True}, "auth": {"tokens": {"enabled": True}}}),
}


@pytest.mark.parametrize("case", list(MOUNTS))
def test_no_volume_is_mounted_inside_another(case: str, tmp_path: Path) -> None:
    values, overrides = MOUNTS[case]
    docs = render_chart(tmp_path, values, overrides)
    assert mounts_apart(docs) == []
    gateway = next(d for d in workloads(docs) if d["metadata"]["name"] == "gateway")
    container = containers(gateway)[0]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["mesh"] == "/etc/agentmesh/config"
    assert container["args"][container["args"].index("--config") + 1] == "/etc/agentmesh/config/mesh.yaml"
    if case != "default":
        assert {mounts["tls"], mounts["auth"]} == {"/etc/agentmesh/tls", "/etc/agentmesh/auth"}
        assert "/etc/agentmesh/auth/tokens.yaml" in container["args"]
    # The check sees the layout it is for: the mesh file's ConfigMap over the Secrets.
    next(m for m in container["volumeMounts"] if m["name"] == "mesh")["mountPath"] = "/etc/agentmesh"
    nested = [p for p in mounts_apart(docs) if "is mounted inside volume mesh at /etc/agentmesh" in p]
    assert len(nested) == (0 if case == "default" else 2), nested


def test_each_agent_spreads_its_own_replicas(tmp_path: Path) -> None:
    docs = render_chart(tmp_path, "production")
    # One constraint each, counting that agent's pods and no other's.
    assert spread_of_agents(docs) == {agent: [[agent]] for agent in AGENTS}
    assert spread_on_own_pods(docs) == []
    # Without spreadOverNodes (the default values), no constraint at all.
    assert spread_of_agents(render_chart(tmp_path)) == {agent: [] for agent in AGENTS}
