"""deploy/k8s rendered by kustomize, validated against a pinned Kubernetes version's schemas
(strict: no unknown fields), and checked as a reviewer would; every check is also shown to catch
manifests broken on purpose."""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from agentmesh_services import AGENTS
from tests.support import ROOT
from tests.support.manifests import (
    Doc,
    budgets_fit,
    containers,
    every_agent_deployed,
    locked_down,
    metrics_exposed,
    mounts_apart,
    ports_agree,
    probes_listen,
    selects,
    spread_on_own_pods,
    spread_selection,
    template_labels,
    tls_wired,
    workloads,
)
from tests.support.network_policies import traffic_stated

KUBERNETES = "1.34.0"
OVERLAYS = ["dev", "prod", "ha", "prod-ha"]
KUSTOMIZE = shutil.which("kustomize", path=str(ROOT / ".tools" / "bin")) or shutil.which("kustomize")


def render(overlay: str, tree: Path = ROOT / "deploy" / "k8s") -> list[Doc]:
    """An overlay of deploy/k8s (or of a copy of it, `tree`) as kustomize renders it."""
    if KUSTOMIZE is None:
        pytest.skip("kustomize is not installed; `make test` installs it")
    out = subprocess.run(
        [KUSTOMIZE, "build", str(tree / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


# Custom resources of cert-manager and the Prometheus Operator: not in Kubernetes' schemas, checked
# by tls_wired and metrics_exposed instead.
CUSTOM_GROUPS = ("cert-manager.io/", "monitoring.coreos.com/")


def all_checks(docs: list[Doc]) -> list[str]:
    return (
        probes_listen(docs)
        + ports_agree(docs)
        + every_agent_deployed(docs, AGENTS)
        + locked_down(docs)
        + metrics_exposed(docs)
        + tls_wired(docs)
        + budgets_fit(docs)
        + traffic_stated(docs)
        + mounts_apart(docs)
        + spread_on_own_pods(docs)
    )


def validate_strictly(docs: list[Doc]) -> None:
    """Every object against Kubernetes' schemas, unknown fields refused; custom resources are left
    to the checks."""
    for doc in docs:
        if not doc["apiVersion"].startswith(CUSTOM_GROUPS):
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_strictly_against_kubernetes(overlay: str) -> None:
    docs = render(overlay)
    assert len(docs) > 30
    validate_strictly(docs)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_passes_the_checks(overlay: str) -> None:
    assert all_checks(render(overlay)) == []


def test_the_overlays_differ_where_they_should() -> None:
    dev, prod = render("dev"), render("prod")

    def agent_env(docs: list[Doc]) -> dict[str, set[str]]:
        return {
            d["metadata"]["name"]: {e["name"] for e in containers(d)[0].get("env", [])}
            for d in docs
            if d["kind"] == "Deployment"
        }

    def replicas(docs: list[Doc]) -> set[int]:
        return {d["spec"]["replicas"] for d in docs if d["kind"] == "Deployment"}

    def llm(docs: list[Doc]) -> str:
        config = next(d for d in docs if d["kind"] == "ConfigMap" and "AGENTMESH_LLM" in d.get("data", {}))
        return str(config["data"]["AGENTMESH_LLM"])

    assert (llm(dev), llm(prod)) == ("offline", "gemini")
    assert replicas(dev) == {1} and replicas(prod) == {2}
    assert all("GEMINI_API_KEY" in env for env in agent_env(prod).values())
    assert not any("GEMINI_API_KEY" in env for env in agent_env(dev).values())
    # The key is referenced from a Secret, never written into a manifest.
    assert "secretKeyRef" in yaml.safe_dump_all(prod) and "GEMINI_API_KEY=" not in yaml.safe_dump_all(prod)


def first_agent(docs: list[Doc]) -> Doc:
    return next(d for d in workloads(docs) if d["kind"] == "Deployment")


def drop_readiness(docs: list[Doc]) -> None:
    del containers(first_agent(docs))[0]["readinessProbe"]


def probe_wrong_port(docs: list[Doc]) -> None:
    containers(first_agent(docs))[0]["livenessProbe"]["grpc"]["port"] = 1


def service_wrong_port(docs: list[Doc]) -> None:
    name = first_agent(docs)["metadata"]["name"]
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == name)
    service["spec"]["ports"][0]["port"] = 1234
    service["spec"]["ports"][0]["targetPort"] = 1234


def mesh_wrong_host(docs: list[Doc]) -> None:
    config = next(d for d in docs if d["kind"] == "ConfigMap" and "mesh.yaml" in d.get("data", {}))
    config["data"]["mesh.yaml"] = config["data"]["mesh.yaml"].replace("dns:///critic:", "dns:///critique:")


def remove_an_agent(docs: list[Doc]) -> None:
    docs.remove(next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "writer"))


def run_as_root(docs: list[Doc]) -> None:
    first_agent(docs)["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] = False


def writable_root(docs: list[Doc]) -> None:
    containers(first_agent(docs))[0]["securityContext"]["readOnlyRootFilesystem"] = False


def no_limits(docs: list[Doc]) -> None:
    del containers(first_agent(docs))[0]["resources"]["limits"]


def latest_tag(docs: list[Doc]) -> None:
    containers(first_agent(docs))[0]["image"] = "ghcr.io/agentmesh/agentmesh-python:latest"


def metrics_undeclared(docs: list[Doc]) -> None:
    container = containers(first_agent(docs))[0]
    container["ports"] = [p for p in container["ports"] if p["name"] != "metrics"]


def short_grace(docs: list[Doc]) -> None:
    first_agent(docs)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 5


BREAKAGES: dict[str, tuple[Callable[[list[Doc]], None], str]] = {
    "no readiness probe": (drop_readiness, "no readinessProbe"),
    "probe on the wrong port": (probe_wrong_port, "livenessProbe on 1, not a port it listens on"),
    "Service on the wrong port": (service_wrong_port, "port 1234 → 1234"),
    "mesh file names no Service": (mesh_wrong_host, "critic at dns:///critique:50064 names no Service"),
    "an agent without a Deployment": (remove_an_agent, "agent writer: no Deployment"),
    "root": (run_as_root, "may run as root"),
    "writable root filesystem": (writable_root, "root filesystem is writable"),
    "no limits": (no_limits, "no CPU and memory limits"),
    "latest tag": (latest_tag, "is not pinned to a version"),
    "grace shorter than the drain": (short_grace, "terminationGracePeriodSeconds 5 is not above --grace 10"),
    "metrics on an undeclared port": (metrics_undeclared, "is not its containerPort `metrics`"),
}


def grpc_probe_on_tls(docs: list[Doc]) -> None:
    containers(first_agent(docs))[0]["readinessProbe"] = {"grpc": {"port": 50061}}


def podmonitor_wrong_port(docs: list[Doc]) -> None:
    monitor = next(d for d in docs if d["kind"] == "PodMonitor")
    monitor["spec"]["podMetricsEndpoints"][0]["port"] = "prometheus"


def certificate_without_a_host(docs: list[Doc]) -> None:
    certificate = next(
        d for d in docs if d["kind"] == "Certificate" and d["metadata"]["name"] == "agentmesh-tls"
    )
    certificate["spec"]["dnsNames"].remove("critic")


def tls_file_unmounted(docs: list[Doc]) -> None:
    containers(first_agent(docs))[0]["volumeMounts"] = []


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def policy_without_metrics(docs: list[Doc]) -> None:
    named(docs, "NetworkPolicy", "agents-from-gateway-only")["spec"]["ingress"].pop()


def mesh_file_over_the_secrets(docs: list[Doc]) -> None:
    """The layout before: the mesh file's ConfigMap at /etc/agentmesh, the Secrets inside it."""
    gateway = next(d for d in workloads(docs) if d["metadata"]["name"] == "gateway")
    mount = next(m for m in containers(gateway)[0]["volumeMounts"] if m["name"] == "mesh")
    mount["mountPath"] = "/etc/agentmesh"


def agents_spread_as_one_group(docs: list[Doc]) -> None:
    """The spread before: the writer's constraint counts every agent's pods."""
    writer = named(docs, "Deployment", "writer")
    del writer["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["matchLabelKeys"]


# Broken in the prod overlay, which has TLS, tokens, monitoring and agents spread over nodes.
PROD_BREAKAGES: dict[str, tuple[Callable[[list[Doc]], None], str]] = {
    "a gRPC probe on a TLS port": (grpc_probe_on_tls, "gRPC readinessProbe on a TLS port"),
    "PodMonitor on a port nobody has": (podmonitor_wrong_port, "no port named ['prometheus']"),
    "a certificate missing a host": (certificate_without_a_host, "no dnsName critic"),
    "a TLS file outside any Secret": (tls_file_unmounted, "is in no mounted Secret"),
    "metrics shut out by the NetworkPolicy": (policy_without_metrics, "does not admit the metrics port"),
    "Secrets mounted inside the mesh file's ConfigMap": (
        mesh_file_over_the_secrets,
        "StatefulSet/gateway gateway: volume tls at /etc/agentmesh/tls is mounted inside volume mesh at "
        "/etc/agentmesh",
    ),
    "agents spread as one group": (
        agents_spread_as_one_group,
        "Deployment/writer: topologySpreadConstraints[0] also selects the pods of Deployment/critic",
    ),
}


@pytest.mark.parametrize("breakage", list(PROD_BREAKAGES))
def test_each_tls_and_monitoring_check_catches_what_it_is_for(breakage: str) -> None:
    docs: list[Any] = copy.deepcopy(render("prod"))
    breaks, expected = PROD_BREAKAGES[breakage]
    breaks(docs)
    problems = all_checks(docs)
    assert any(expected in problem for problem in problems), problems


@pytest.fixture(scope="module")
def dev() -> list[Doc]:
    return render("dev")


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_each_check_catches_what_it_is_for(dev: list[Doc], breakage: str) -> None:
    docs: list[Any] = copy.deepcopy(dev)
    breaks, expected = BREAKAGES[breakage]
    breaks(docs)
    problems = all_checks(docs)
    assert any(expected in problem for problem in problems), problems


def test_strict_validation_refuses_an_unknown_field(dev: list[Doc]) -> None:
    broken = copy.deepcopy(first_agent(dev))
    containers(broken)[0]["readinessProbes"] = containers(broken)[0].pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_the_ha_overlay_replicates_the_gateway_on_postgresql() -> None:
    docs = render("ha")
    gateways = [d for d in workloads(docs) if d["metadata"]["name"] == "gateway"]
    assert [(d["kind"], d["spec"]["replicas"]) for d in gateways] == [("Deployment", 3)]
    container = containers(gateways[0])[0]
    store = next(e for e in container["env"] if e["name"] == "AGENTMESH_STORE")
    assert store["valueFrom"]["secretKeyRef"] == {"name": "agentmesh-database", "key": "url"}
    assert "volumeClaimTemplates" not in gateways[0]["spec"]  # nothing of a replica's own to keep
    budget = next(
        d for d in docs if d["kind"] == "PodDisruptionBudget" and d["metadata"]["name"] == "gateway"
    )
    assert budget["spec"]["maxUnavailable"] == 1


def drop(kind: str, name: str) -> Callable[[list[Doc]], None]:
    return lambda docs: docs.remove(named(docs, kind, name))


def budget_on_one_replica(docs: list[Doc]) -> None:
    docs.append(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "writer"},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "writer"}}},
        }
    )


def egress_to_anything(docs: list[Doc]) -> None:
    named(docs, "NetworkPolicy", "gateway-egress")["spec"]["egress"].append({})


# Budgets and NetworkPolicies, each broken in the overlay where what it checks is present.
OVERLAY_BREAKAGES: dict[str, tuple[str, Callable[[list[Doc]], None], str]] = {
    "a budget on one replica": ("dev", budget_on_one_replica, "guards Deployment/writer, which may run 1"),
    "replicas without a budget": (
        "prod",
        drop("PodDisruptionBudget", "writer"),
        "Deployment/writer: 2 replicas and no PodDisruptionBudget",
    ),
    "HA gateway without a budget": (
        "prod-ha",
        drop("PodDisruptionBudget", "gateway"),
        "Deployment/gateway: 3 replicas and no PodDisruptionBudget",
    ),
    "no default deny": ("dev", drop("NetworkPolicy", "default-deny"), "no default-deny NetworkPolicy"),
    "no DNS": ("dev", drop("NetworkPolicy", "dns-egress"), "Deployment/writer: no egress to DNS"),
    "gateway cut off from the agents": (
        "dev",
        drop("NetworkPolicy", "gateway-egress"),
        "StatefulSet/gateway: no egress to Deployment/critic on 50064",
    ),
    "agents shut to the gateway": (
        "dev",
        drop("NetworkPolicy", "agents-from-gateway-only"),
        "Deployment/critic: does not admit StatefulSet/gateway on 50064",
    ),
    "gateway shut to its clients": (
        "prod-ha",
        drop("NetworkPolicy", "gateway-ingress"),
        "Deployment/gateway: its gRPC port admits no client",
    ),
    "egress to anything": ("dev", egress_to_anything, "StatefulSet/gateway: egress to anything"),
    "agents cut off from the model": (
        "prod",
        drop("NetworkPolicy", "agents-to-llm-api"),
        "Deployment/writer: no egress to its model's API (TCP 443)",
    ),
    "gateway cut off from PostgreSQL": (
        "prod-ha",
        drop("NetworkPolicy", "gateway-to-database"),
        "Deployment/gateway: no egress to its database (TCP 5432)",
    ),
}


@pytest.mark.parametrize("breakage", list(OVERLAY_BREAKAGES))
def test_each_budget_and_policy_check_catches_what_it_is_for(breakage: str) -> None:
    overlay, breaks, expected = OVERLAY_BREAKAGES[breakage]
    docs: list[Any] = copy.deepcopy(render(overlay))
    assert all_checks(docs) == []
    breaks(docs)
    problems = all_checks(docs)
    assert any(expected in problem for problem in problems), problems


def test_the_prod_ha_overlay_has_ha_tls_and_tokens_on_one_gateway() -> None:
    docs = render("prod-ha")
    gateways = [d for d in workloads(docs) if d["metadata"]["name"] == "gateway"]
    assert [(d["kind"], d["spec"]["replicas"]) for d in gateways] == [("Deployment", 3)]
    container = containers(gateways[0])[0]
    env = {e["name"] for e in container["env"]}
    assert {"AGENTMESH_STORE", "AGENTMESH_TLS_CERT", "AGENTMESH_TLS_KEY", "AGENTMESH_TLS_CA"} <= env
    assert container["args"][-3:] == [
        "--auth-tokens",
        "/etc/agentmesh/auth/tokens.yaml",
        "--tenant-isolation",
    ]
    secrets = {
        v["secret"]["secretName"] for v in gateways[0]["spec"]["template"]["spec"]["volumes"] if "secret" in v
    }
    assert secrets == {"agentmesh-tls", "agentmesh-tokens"}
    assert {
        d["spec"]["replicas"] for d in workloads(docs) if d["kind"] == "Deployment" and d is not gateways[0]
    } == {2}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_volume_is_mounted_inside_another(overlay: str) -> None:
    docs = render(overlay)
    assert mounts_apart(docs) == []
    gateway = next(d for d in workloads(docs) if d["metadata"]["name"] == "gateway")
    container = containers(gateway)[0]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["mesh"] == "/etc/agentmesh/config"
    config = container["args"][container["args"].index("--config") + 1]
    assert config.startswith(mounts["mesh"] + "/")
    if overlay.startswith("prod"):  # where there are Secrets beside it: tls and tokens
        assert {mounts["tls"], mounts["auth"]} == {"/etc/agentmesh/tls", "/etc/agentmesh/auth"}


def pod(*mounts: str) -> Doc:
    """A Pod of one container mounting a volume at each path, in order."""
    volumes = [{"name": f"v{index}", "emptyDir": {}} for index in range(len(mounts))]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "example:1",
                    "volumeMounts": [{"name": f"v{i}", "mountPath": path} for i, path in enumerate(mounts)],
                }
            ],
            "volumes": volumes,
        },
    }


@pytest.mark.parametrize(
    ("mounts", "expected"),
    [
        (
            ("/etc/app", "/etc/app/tls"),
            ["Pod/p c: volume v1 at /etc/app/tls is mounted inside volume v0 at /etc/app"],
        ),
        # The inner one first, a trailing slash, deeper: the same nesting.
        (
            ("/etc/app/a/tls", "/etc/app/"),
            ["Pod/p c: volume v0 at /etc/app/a/tls is mounted inside volume v1 at /etc/app"],
        ),
        (("/", "/tmp"), ["Pod/p c: volume v1 at /tmp is mounted inside volume v0 at /"]),
        (("/etc/app", "/etc/app"), ["Pod/p c: two volumes mounted at /etc/app"]),
        # Siblings, and a name that only starts like another: nothing nested.
        (("/etc/app/config", "/etc/app/tls", "/etc/app-tls", "/tmp"), []),
    ],
)
def test_the_mount_check_catches_a_nested_mount(mounts: tuple[str, ...], expected: list[str]) -> None:
    broken = pod(*mounts)
    validate_strictly([broken])  # the schemas have nothing against it: only the check catches it
    assert mounts_apart([broken]) == expected


def spread_of_agents(docs: list[Doc]) -> dict[str, list[list[str]]]:
    """Each agent Deployment's topology spread constraints, as the workloads whose pods each counts."""
    return {
        agent["metadata"]["name"]: [
            [d["metadata"]["name"] for d in workloads(docs) if selects(selector, template_labels(d))]
            if (selector := spread_selection(agent, constraint)) is not None
            else []
            for constraint in agent["spec"]["template"]["spec"].get("topologySpreadConstraints", [])
        ]
        for agent in workloads(docs)
        if template_labels(agent).get("app.kubernetes.io/component") == "agent"
    }


@pytest.mark.parametrize("overlay", ["prod", "prod-ha"])
def test_each_agent_spreads_its_own_replicas(overlay: str) -> None:
    docs = render(overlay)
    # One constraint each, counting that agent's pods and no other's.
    assert spread_of_agents(docs) == {agent: [[agent]] for agent in AGENTS}
    assert spread_on_own_pods(docs) == []
