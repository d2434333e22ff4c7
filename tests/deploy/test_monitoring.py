"""The Grafana dashboard in deploy/ asks only for metrics the processes export: its queries' metric
names are checked against what a live gateway and agents in three languages actually serve."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import ROOT
from tests.support.mesh import local_mesh
from tests.support.scrape import metrics_port

DASHBOARD = ROOT / "deploy" / "k8s" / "components" / "monitoring" / "grafana-dashboard.json"
AGENTS = ("researcher", "trend-scanner", "video-scriptor")
# PromQL words that look like names: aggregations and functions are followed by "(" and dropped
# anyway; these are the keywords that are not.
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
}


def metric_names(expr: str) -> set[str]:
    """The metric (series) names a PromQL expression reads."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        following = expr[match.end() :].lstrip()
        if following.startswith("(") or match.group(0) in KEYWORDS:
            continue
        names.add(match.group(0))
    return names


def dashboard_names(dashboard: dict[str, object]) -> dict[str, set[str]]:
    """Each panel's title → the metric names its queries read."""
    found: dict[str, set[str]] = {}
    for panel in dashboard["panels"]:  # type: ignore[attr-defined]
        names = set().union(*(metric_names(target["expr"]) for target in panel["targets"]))
        found[panel["title"]] = names
    return found


def unknown_in(dashboard: dict[str, object], exported: set[str]) -> list[str]:
    return [
        f"panel {title!r}: {name} is exported by no process"
        for title, names in dashboard_names(dashboard).items()
        for name in sorted(names - exported)
    ]


def series_names(text: str) -> set[str]:
    """Every series name an exposition declares, samples or not (a histogram's _bucket, _sum, _count)."""
    names = set()
    for family in text_string_to_metric_families(text):
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(family.type, [""])
        names |= {family.name + suffix for suffix in suffixes}
        names |= {sample.name for sample in family.samples}
    return names


@pytest.fixture(scope="module")
async def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    import urllib.request

    mesh = local_mesh(tmp_path_factory.mktemp("monitoring") / "runs.db", {})
    mesh.env = {**os.environ, "AGENTMESH_METRICS_PORT": "0"}
    for name in AGENTS:
        mesh.add_agent(name)
    names: set[str] = set()
    async with mesh:
        for _, process in mesh.processes:
            url = f"http://127.0.0.1:{metrics_port(process)}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: ASYNC210 - a test, once
                names |= series_names(response.read().decode())
    return names


def test_the_dashboard_reads_only_exported_metrics(exported: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert len(dashboard_names(dashboard)) >= 10
    assert unknown_in(dashboard, exported) == []
    # It shows the gateway's own series and the gRPC ones every runtime exports.
    read = set().union(*dashboard_names(dashboard).values())
    assert {"agentmesh_runs_in_flight", "grpc_server_handled_total", "agentmesh_llm_tokens_total"} <= read


def test_the_check_catches_a_misspelt_metric(exported: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    dashboard["panels"][0]["targets"][0]["expr"] = "sum(agentmesh_runs_inflight)"
    assert unknown_in(dashboard, exported) == [
        f"panel {dashboard['panels'][0]['title']!r}: agentmesh_runs_inflight is exported by no process"
    ]


def test_promql_names_are_found_and_functions_and_labels_are_not() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, agent) (rate(a_seconds_bucket{outcome="error"}[5m]))) / b_total'
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b_total"}


def test_the_dashboard_is_valid_grafana_json() -> None:
    dashboard = json.loads(Path(DASHBOARD).read_text())
    assert dashboard["uid"] and dashboard["schemaVersion"] >= 30
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(panel["datasource"]["uid"] == "${datasource}" for panel in dashboard["panels"])
