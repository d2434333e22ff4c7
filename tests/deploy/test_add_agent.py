"""The README's "Add your own agent to the cluster", both recipes followed as written: the values
entry given to the chart, and the kustomize steps done on a copy of deploy/k8s. Each renders an
agent in every place it belongs, valid and passing every check the shipped ones pass."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.test_helm import render_chart
from tests.deploy.test_manifests import all_checks, render, validate_strictly
from tests.support import ROOT
from tests.support.manifests import Doc, containers, mesh_file, workloads
from tests.support.readme import example

HEADING = "### Add your own agent to the cluster"
NAME = "my-agent"


def values_entry() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(example(HEADING, "yaml"))
    return values


def kinds_of(docs: list[Doc], name: str) -> set[str]:
    return {d["kind"] for d in docs if d["metadata"]["name"] == name}


def certificate_names(docs: list[Doc]) -> list[str]:
    certificate = next(
        d for d in docs if d["kind"] == "Certificate" and d["metadata"]["name"] == "agentmesh-tls"
    )
    return list(certificate["spec"]["dnsNames"])


def assert_added(docs: list[Doc], replicated: bool, entry: dict[str, Any]) -> None:
    """Valid, passing every check, and the agent in every place it belongs: its Deployment runs
    the entry's image and command with the serving flags, the mesh file names it, and where it
    runs two replicas (production) it has a budget and a name on the TLS certificate."""
    validate_strictly(docs)
    assert all_checks(docs) == []
    container = containers(next(d for d in workloads(docs) if d["metadata"]["name"] == NAME))[0]
    port, metrics = entry["port"], entry["metricsPort"]
    assert (container["image"], container["command"]) == (entry["image"], entry["command"])
    serving = ["--host", "0.0.0.0", "--port", str(port), "--grace", "10", "--metrics-port", str(metrics)]
    assert container["args"] == serving
    assert mesh_file(docs)["agents"][NAME] == {"addresses": [f"dns:///{NAME}:{port}"]}
    expected = {"Deployment", "Service", "HorizontalPodAutoscaler"}
    assert kinds_of(docs, NAME) == (expected | {"PodDisruptionBudget"} if replicated else expected)
    if replicated:
        assert NAME in certificate_names(docs)


@pytest.mark.parametrize("values", ["default", "production"])
def test_the_values_entry_adds_an_agent(values: str, tmp_path: Path) -> None:
    docs = render_chart(tmp_path, values, values_entry())
    assert_added(docs, values == "production", values_entry()["agents"][NAME])


def follow_the_kustomize_recipe(tmp_path: Path) -> Path:
    """The README's kustomize steps on a copy of deploy/k8s, making the values entry's choices."""
    entry = values_entry()["agents"][NAME]
    tree = tmp_path / "k8s"
    shutil.copytree(ROOT / "deploy" / "k8s", tree)
    base = tree / "base"
    text = (base / "analyst.yaml").read_text().replace("analyst", NAME)
    text = text.replace("ghcr.io/agentmesh/agentmesh-python:0.1.0", entry["image"])
    command = "".join(f"        - {part}\n" for part in entry["command"])
    text = text.replace(
        f"        command:\n        - agentmesh\n        args:\n        - agent\n        - {NAME}\n",
        f"        command:\n{command}        args:\n",
    )
    text = text.replace("50062", str(entry["port"])).replace("9092", str(entry["metricsPort"]))
    (base / f"{NAME}.yaml").write_text(text)
    kustomization = base / "kustomization.yaml"
    listed = kustomization.read_text().replace(
        "- network-policy.yaml\n", f"- network-policy.yaml\n- {NAME}.yaml\n"
    )
    kustomization.write_text(listed)
    with (base / "mesh.yaml").open("a") as mesh:
        mesh.write(f'  {NAME}: {{addresses: ["dns:///{NAME}:{entry["port"]}"]}}\n')
    certificates = tree / "components" / "tls" / "certificates.yaml"
    named = re.sub(r"(  dnsNames:\n  - gateway\n)", rf"\1  - {NAME}\n", certificates.read_text())
    certificates.write_text(named)
    return tree


@pytest.mark.parametrize("overlay", ["dev", "prod-ha"])
def test_the_kustomize_recipe_adds_an_agent(overlay: str, tmp_path: Path) -> None:
    docs = render(overlay, follow_the_kustomize_recipe(tmp_path))
    assert_added(docs, overlay == "prod-ha", values_entry()["agents"][NAME])


def test_a_step_left_out_is_caught(tmp_path: Path) -> None:
    tree = follow_the_kustomize_recipe(tmp_path)
    certificates = tree / "components" / "tls" / "certificates.yaml"
    certificates.write_text(certificates.read_text().replace(f"  - {NAME}\n", ""))
    assert f"Certificate/agentmesh-tls: no dnsName {NAME}" in all_checks(render("prod-ha", tree))
