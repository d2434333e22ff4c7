"""The Helm chart and the kustomize overlays render the same objects for the same choices: each
overlay, rendered by kustomize, beside the chart rendered by helm with the values that make the
same choices, compared object by object and field by field. Values broken on purpose show that
the comparison fails on a difference, and that what it normalises hides nothing else."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.test_helm import render_chart
from tests.deploy.test_manifests import render
from tests.support.manifests import Doc

# Each overlay and the chart's values making its choices: a values file and overrides on top,
# as a user would write them. dev and prod-ha are the two values files as they ship.
PAIRS: dict[str, tuple[str | None, dict[str, Any]]] = {
    "dev": (None, {}),
    "prod-ha": ("production", {}),
    "ha": (
        None,
        {
            "gateway": {"store": {"type": "postgres"}, "resources": {"requests": {"memory": "192Mi"}}},
            "monitoring": {"podMonitor": {"enabled": True}, "dashboard": {"enabled": True}},
        },
    ),
    "prod": (
        "production",
        {"gateway": {"store": {"type": "sqlite"}, "resources": {"requests": {"memory": "256Mi"}}}},
    ),
}

# What must differ, and only that:
# - Helm's own labels (helm.sh/chart, app.kubernetes.io/managed-by, /instance, /version) name the
#   release and the chart's version; kustomize has neither. They are on metadata only, never on
#   selectors or pods, so dropping them hides no selection.
HELM_LABELS = {
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
}
# - The overlays create their Namespace (with its Pod Security label); a chart cannot, as Helm
#   keeps the release in that namespace before it applies anything (`kubectl create namespace`,
#   or `helm install --create-namespace`, then label it: the chart's README).
# - Generated ConfigMaps carry a hash of their content in their name, so that a change rolls the
#   pods; kustomize and the chart hash differently (kustomize its own encoding, the chart sha256).
#   The suffix is cut from the ConfigMap's name and from every reference to it; the content is
#   still compared, so a different content is still a difference.
HASHED = re.compile(r"^(gateway-mesh|agentmesh-llm)-[a-z0-9]{10}$")
# - The mesh file is text in a ConfigMap: the overlay's is written by hand with comments, the
#   chart's generated from the agents; the YAML they hold is compared, not their text.
MESH_KEY = "mesh.yaml"


def unhash(value: Any) -> Any:
    """`value` with every hashed ConfigMap name, wherever it is referenced, cut to its stem."""
    if isinstance(value, dict):
        return {key: unhash(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unhash(item) for item in value]
    if isinstance(value, str) and HASHED.match(value):
        return value.rsplit("-", 1)[0]
    return value


def normalise(docs: list[Doc]) -> dict[str, Doc]:
    """Every object but the Namespace, by kind and name, with only the above normalised."""
    objects: dict[str, Doc] = {}
    for doc in docs:
        if doc["kind"] == "Namespace":
            continue
        doc = unhash(doc)
        labels = doc["metadata"].get("labels", {})
        for label in HELM_LABELS & set(labels):
            del labels[label]
        if doc["kind"] == "ConfigMap" and MESH_KEY in doc.get("data", {}):
            doc["data"][MESH_KEY] = yaml.safe_load(doc["data"][MESH_KEY])
        objects[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return objects


def diff(path: str, overlay: Any, chart: Any) -> Iterator[str]:
    if isinstance(overlay, dict) and isinstance(chart, dict):
        for key in sorted(set(overlay) | set(chart)):
            yield from diff(f"{path}.{key}", overlay.get(key), chart.get(key))
    elif isinstance(overlay, list) and isinstance(chart, list) and len(overlay) == len(chart):
        for index, (left, right) in enumerate(zip(overlay, chart, strict=True)):
            yield from diff(f"{path}[{index}]", left, right)
    elif overlay != chart:
        yield f"{path}: overlay {overlay!r}, chart {chart!r}"


def differences(overlay_docs: list[Doc], chart_docs: list[Doc]) -> list[str]:
    overlay, chart = normalise(overlay_docs), normalise(chart_docs)
    found = [f"{name}: only in the overlay" for name in sorted(set(overlay) - set(chart))]
    found += [f"{name}: only in the chart" for name in sorted(set(chart) - set(overlay))]
    for name in sorted(set(overlay) & set(chart)):
        found += diff(name, overlay[name], chart[name])
    return found


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


@pytest.mark.parametrize("overlay", list(PAIRS))
def test_the_chart_renders_what_the_overlay_renders(overlay: str, tmp_path: Path) -> None:
    values, overrides = PAIRS[overlay]
    overlay_docs = render(overlay)
    assert len(overlay_docs) > 30
    assert differences(overlay_docs, render_chart(tmp_path, values, overrides)) == []


# Values that make a choice the overlay did not, each with a difference the comparison must name.
BROKEN: dict[str, tuple[str, dict[str, Any], str]] = {
    "another replica count": (
        "prod-ha",
        {"agentDefaults": {"replicas": 3}},
        "Deployment/writer.spec.replicas: overlay 2, chart 3",
    ),
    "another model (inside a hashed ConfigMap)": (
        "prod-ha",
        {"llm": {"provider": "openai"}},
        "ConfigMap/agentmesh-llm.data.AGENTMESH_LLM: overlay 'gemini', chart 'openai'",
    ),
    "another agent port (inside the mesh file)": (
        "dev",
        {"agents": {"critic": {"port": 50099}}},
        "ConfigMap/gateway-mesh.data.mesh.yaml.agents.critic.addresses[0]: overlay 'dns:///critic:50064'",
    ),
    "no TLS": ("prod-ha", {"tls": {"enabled": False}}, "Certificate/agentmesh-tls: only in the overlay"),
    "the gateway on SQLite": (
        "prod-ha",
        {"gateway": {"store": {"type": "sqlite"}}},
        "StatefulSet/gateway: only in the chart",
    ),
    "another user for the pods": (
        "dev",
        {"runAsUser": 10002},
        "Deployment/analyst.spec.template.spec.securityContext.runAsUser: overlay 10001, chart 10002",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_the_comparison_fails_on_a_different_choice(case: str, tmp_path: Path) -> None:
    overlay, extra, expected = BROKEN[case]
    values, overrides = PAIRS[overlay]
    found = differences(render(overlay), render_chart(tmp_path, values, merged(overrides, extra)))
    assert any(expected in line for line in found), found


def test_normalising_keeps_a_hashed_name_that_is_no_generated_config_map() -> None:
    # Only the two generated ConfigMaps' names are cut: another name of the same shape is kept.
    doc = {"kind": "Secret", "metadata": {"name": "gateway-tokens-abcdefghij"}}
    assert normalise([doc]) == {"Secret/gateway-tokens-abcdefghij": doc}
