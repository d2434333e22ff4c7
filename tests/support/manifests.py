"""Checks over rendered Kubernetes manifests: what a reviewer of deploy/ would check by hand.

Each check returns the problems it finds, one line each, naming the object; an empty list means
the manifests pass. tests/deploy runs them over every overlay, and over manifests broken on
purpose to show that each check catches what it is for.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath
from typing import Any

import yaml

Doc = dict[str, Any]
WORKLOADS = ("Deployment", "StatefulSet")


def name_of(doc: Doc) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def workloads(docs: Iterable[Doc]) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] in WORKLOADS]


def containers(doc: Doc) -> list[Doc]:
    return list(doc["spec"]["template"]["spec"]["containers"])


def pod_specs(docs: Iterable[Doc]) -> Iterator[tuple[Doc, Doc]]:
    """Each Pod, and each workload's pod template, with the object it is in."""
    for doc in docs:
        if doc["kind"] == "Pod":
            yield doc, doc["spec"]
        elif doc["kind"] in WORKLOADS:
            yield doc, doc["spec"]["template"]["spec"]


def selects(selector: Doc | None, labels: dict[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions) matching `labels`; {} matches all."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, values = expression["key"], expression.get("values", [])
        held = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[expression["operator"]]
        if not held:
            return False
    return True


def container_ports(container: Doc) -> dict[str, int]:
    return {
        port.get("name", str(port["containerPort"])): port["containerPort"]
        for port in container.get("ports", [])
    }


def serves_tls(container: Doc) -> bool:
    env = {entry["name"] for entry in container.get("env", [])}
    return "AGENTMESH_TLS_CERT" in env or arg_after(container, "--tls-cert") is not None


def probes_listen(docs: list[Doc]) -> list[str]:
    """Every container has startup, readiness and liveness probes on a port it listens on: native
    gRPC, or HTTP (the metrics port's /healthz and /readyz) where its gRPC port serves TLS, which
    the kubelet's gRPC probes cannot speak."""
    problems = []
    for doc in workloads(docs):
        for container in containers(doc):
            named = container_ports(container)
            tls = serves_tls(container)
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = container.get(kind)
                where = f"{name_of(doc)} {container['name']}"
                if not probe:
                    problems.append(f"{where}: no {kind}")
                    continue
                if tls and "grpc" in probe:
                    problems.append(
                        f"{where}: gRPC {kind} on a TLS port (the kubelet's gRPC probes are plaintext)"
                    )
                    continue
                if not tls and "grpc" not in probe:
                    problems.append(f"{where}: no gRPC {kind}")
                    continue
                port = probe["grpc"]["port"] if "grpc" in probe else probe.get("httpGet", {}).get("port")
                if port not in named.values() and port not in named:
                    problems.append(f"{where}: {kind} on {port}, not a port it listens on")
    return problems


def arg_after(container: Doc, flag: str) -> str | None:
    args = [*container.get("command", []), *container.get("args", [])]
    return args[args.index(flag) + 1] if flag in args[:-1] else None


def ports_agree(docs: list[Doc], mesh_key: str = "mesh.yaml") -> list[str]:
    """A workload's --port, its containerPort, its Service's port and the gateway's mesh file agree."""
    problems = []
    services = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "Service"}
    for doc in workloads(docs):
        name = doc["metadata"]["name"]
        container = containers(doc)[0]
        listening = container_ports(container)
        flag = arg_after(container, "--port")
        if flag is not None and int(flag) not in listening.values():
            problems.append(
                f"{name_of(doc)}: --port {flag} is not its containerPort {sorted(listening.values())}"
            )
        service = services.get(name)
        if service is None:
            problems.append(f"{name_of(doc)}: no Service named {name}")
            continue
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            resolved = listening.get(target) if isinstance(target, str) else target
            if resolved != port["port"] or resolved not in listening.values():
                problems.append(
                    f"Service/{name}: port {port['port']} → {target}, but the pods listen on {listening}"
                )
    mesh = mesh_file(docs, mesh_key)
    for agent, entry in (mesh.get("agents") or {}).items():
        for address in entry["addresses"]:
            match = re.fullmatch(r"(?:dns:///)?([^:/]+):(\d+)", address)
            service = services.get(match.group(1)) if match else None
            if match is None or service is None:
                problems.append(f"mesh file: {agent} at {address} names no Service")
            elif int(match.group(2)) not in [p["port"] for p in service["spec"]["ports"]]:
                problems.append(
                    f"mesh file: {agent} at {address}, but Service/{match.group(1)} serves "
                    f"{[p['port'] for p in service['spec']['ports']]}"
                )
    return problems


def mesh_file(docs: list[Doc], key: str = "mesh.yaml") -> Doc:
    for doc in docs:
        if doc["kind"] == "ConfigMap" and key in doc.get("data", {}):
            loaded: Doc = yaml.safe_load(doc["data"][key])
            return loaded
    return {}


def every_agent_deployed(docs: list[Doc], agents: Iterable[str]) -> list[str]:
    """Every agent of the shipped mesh has a Deployment and is in the gateway's mesh file."""
    deployed = {doc["metadata"]["name"] for doc in docs if doc["kind"] == "Deployment"}
    meshed = set(mesh_file(docs).get("agents") or {})
    return [f"agent {agent}: no Deployment" for agent in agents if agent not in deployed] + [
        f"agent {agent}: not in the gateway's mesh file" for agent in agents if agent not in meshed
    ]


def locked_down(docs: list[Doc]) -> list[str]:
    """Non-root, read-only root filesystem, no privilege escalation, no capabilities, seccomp,
    CPU and memory limits, a pinned image tag, and a termination grace above the drain grace."""
    problems = []
    for doc in workloads(docs):
        pod = doc["spec"]["template"]["spec"]
        pod_security = pod.get("securityContext", {})
        if pod_security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name_of(doc)}: seccomp profile is not RuntimeDefault")
        for container in containers(doc):
            where = f"{name_of(doc)} {container['name']}"
            security = {**pod_security, **container.get("securityContext", {})}
            if security.get("runAsNonRoot") is not True:
                problems.append(f"{where}: may run as root")
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root filesystem is writable")
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation allowed")
            if "ALL" not in security.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: capabilities not all dropped")
            limits = container.get("resources", {}).get("limits", {})
            if not {"cpu", "memory"} <= set(limits):
                problems.append(f"{where}: no CPU and memory limits")
            image = container["image"]
            if "@sha256:" not in image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
                problems.append(f"{where}: image {image} is not pinned to a version")
            grace = arg_after(container, "--grace")
            period = pod.get("terminationGracePeriodSeconds", 30)
            if grace is not None and period <= float(grace):
                problems.append(
                    f"{where}: terminationGracePeriodSeconds {period} is not above --grace {grace}"
                )
    return problems


def port_of(doc: Doc, name: str) -> int | None:
    return container_ports(containers(doc)[0]).get(name)


def metrics_exposed(docs: list[Doc]) -> list[str]:
    """Every container serves /metrics (--metrics-port) on its containerPort named `metrics`, a
    PodMonitor (if any) selects every workload's pods by that port, a ServiceMonitor (if any) every
    workload's Service with a port to it, and the agents' NetworkPolicy admits it."""
    problems = []
    for doc in workloads(docs):
        container = containers(doc)[0]
        flag = arg_after(container, "--metrics-port")
        port = container_ports(container).get("metrics")
        if flag is None or port is None or int(flag) != port:
            problems.append(
                f"{name_of(doc)}: --metrics-port {flag} is not its containerPort `metrics` ({port})"
            )
    for monitor in (d for d in docs if d["kind"] == "PodMonitor"):
        wanted = monitor["spec"]["selector"].get("matchLabels", {})
        endpoints = [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]]
        for doc in workloads(docs):
            labels = doc["spec"]["template"]["metadata"].get("labels", {})
            if any(labels.get(k) != v for k, v in wanted.items()):
                problems.append(f"{name_of(doc)}: its pods are not selected by {name_of(monitor)}")
            elif any(e not in container_ports(containers(doc)[0]) for e in endpoints):
                problems.append(f"{name_of(doc)}: no port named {endpoints} for {name_of(monitor)}")
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    for monitor in (d for d in docs if d["kind"] == "ServiceMonitor"):
        wanted = monitor["spec"]["selector"].get("matchLabels", {})
        endpoints = [e["port"] for e in monitor["spec"]["endpoints"]]
        for doc in workloads(docs):
            service = services.get(doc["metadata"]["name"], {"metadata": {}, "spec": {"ports": []}})
            labels = service["metadata"].get("labels", {})
            offered = {p.get("name"): p.get("targetPort") for p in service["spec"]["ports"]}
            if any(labels.get(k) != v for k, v in wanted.items()):
                problems.append(f"{name_of(doc)}: its Service is not selected by {name_of(monitor)}")
            elif any(offered.get(e) not in ("metrics", port_of(doc, "metrics")) for e in endpoints):
                problems.append(f"{name_of(doc)}: its Service has no port {endpoints} to its metrics port")
    for policy in (d for d in docs if d["kind"] == "NetworkPolicy"):
        ports = [p.get("port") for rule in policy["spec"].get("ingress", []) for p in rule.get("ports", [])]
        if ports and "metrics" not in ports:
            problems.append(f"{name_of(policy)}: does not admit the metrics port")
    return problems


def tls_wired(docs: list[Doc]) -> list[str]:
    """Every TLS file a container is told about is inside a mounted Secret; a Certificate making that
    Secret names every host the gateway calls and the gateway itself."""
    problems = []
    certificates = {d["spec"]["secretName"]: d for d in docs if d["kind"] == "Certificate"}
    mounted: set[str] = set()
    for doc in workloads(docs):
        pod = doc["spec"]["template"]["spec"]
        secrets = {v["name"]: v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
        mounted |= set(secrets.values())
        for container in containers(doc):
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            for entry in container.get("env", []):
                if not entry["name"].startswith("AGENTMESH_TLS_"):
                    continue
                path = entry.get("value", "")
                mount = next((m for m in mounts if path.startswith(m.rstrip("/") + "/")), None)
                if mount is None or mounts[mount] not in secrets:
                    problems.append(f"{name_of(doc)}: {entry['name']}={path} is in no mounted Secret")
    hosts = {"gateway"} | {
        re.sub(r"^dns:///|:\d+$", "", address)
        for entry in (mesh_file(docs).get("agents") or {}).values()
        for address in entry["addresses"]
    }
    for secret, certificate in certificates.items():
        if secret not in mounted:
            continue  # the CA's own, say
        names = set(certificate["spec"].get("dnsNames", []))
        problems += [f"{name_of(certificate)}: no dnsName {host}" for host in sorted(hosts - names)]
        usages = set(certificate["spec"].get("usages", []))
        if not {"server auth", "client auth"} <= usages:
            problems.append(
                f"{name_of(certificate)} ({secret}): usages must include server auth and client auth"
            )
    return problems


def replica_floor(doc: Doc, docs: list[Doc]) -> int:
    """The fewest replicas a workload runs with: its HPA's minReplicas, if one scales it (the HPA
    then owns spec.replicas), else spec.replicas."""
    for hpa in (d for d in docs if d["kind"] == "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        if (target["kind"], target["name"]) == (doc["kind"], doc["metadata"]["name"]):
            return int(hpa["spec"].get("minReplicas", 1))
    return int(doc["spec"].get("replicas", 1))


def budgets_fit(docs: list[Doc]) -> list[str]:
    """A PodDisruptionBudget exactly where a workload runs two replicas or more: with one, a budget
    either blocks every drain or protects nothing; with two, a drain without one may take both."""
    problems = []
    budgets = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    guarded: set[str] = set()
    for budget in budgets:
        wanted = budget["spec"]["selector"].get("matchLabels", {})
        selected = [
            doc
            for doc in workloads(docs)
            if all(
                doc["spec"]["template"]["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items()
            )
        ]
        if not selected:
            problems.append(f"{name_of(budget)}: selects no workload's pods")
        for doc in selected:
            guarded.add(name_of(doc))
            floor = replica_floor(doc, docs)
            if floor < 2:
                problems.append(f"{name_of(budget)}: guards {name_of(doc)}, which may run {floor} replica")
    for doc in workloads(docs):
        if replica_floor(doc, docs) >= 2 and name_of(doc) not in guarded:
            problems.append(f"{name_of(doc)}: {replica_floor(doc, docs)} replicas and no PodDisruptionBudget")
    return problems


def mounts_apart(docs: list[Doc]) -> list[str]:
    """No container mounts a volume inside another of its volume mounts. The kubelet would have to
    make the inner mount point in the outer volume: in a ConfigMap or Secret volume, read-only and
    swapped whole (its ..data link) on every update, that fails on some runtimes (mkdir: read-only
    file system) or the mount point goes with the next update."""
    problems = []
    for doc, pod in pod_specs(docs):
        for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
            mounts = [
                (PurePosixPath(posixpath.normpath(mount["mountPath"])), mount["name"])
                for mount in container.get("volumeMounts", [])
            ]
            where = f"{name_of(doc)} {container['name']}"
            for index, (inner, inner_name) in enumerate(mounts):
                for outer, outer_name in mounts:
                    if inner != outer and inner.is_relative_to(outer):
                        problems.append(
                            f"{where}: volume {inner_name} at {inner} is mounted inside volume "
                            f"{outer_name} at {outer}"
                        )
                if any(path == inner for path, _ in mounts[:index]):
                    problems.append(f"{where}: two volumes mounted at {inner}")
    return problems


def template_labels(doc: Doc) -> dict[str, str]:
    return dict(doc["spec"]["template"]["metadata"].get("labels", {}))


def spread_selection(doc: Doc, constraint: Doc) -> Doc | None:
    """The selector a topology spread constraint counts pods by, for the pods of `doc`: its
    labelSelector with each of its matchLabelKeys set to the pod's own value (keys the pod lacks
    are ignored, as the scheduler does). None when it has no labelSelector: it then counts no pod."""
    selector = constraint.get("labelSelector")
    if selector is None:
        return None
    labels = template_labels(doc)
    own = {key: labels[key] for key in constraint.get("matchLabelKeys", []) if key in labels}
    return {**selector, "matchLabels": {**selector.get("matchLabels", {}), **own}}


def spread_on_own_pods(docs: list[Doc]) -> list[str]:
    """Each workload's topology spread constraints count exactly its own pods: one that also counts
    another workload's pods balances the group, and two replicas of this one may share a node while
    the group is even."""
    problems = []
    for doc in workloads(docs):
        constraints = doc["spec"]["template"]["spec"].get("topologySpreadConstraints", [])
        for index, constraint in enumerate(constraints):
            where = f"{name_of(doc)}: topologySpreadConstraints[{index}]"
            selector = spread_selection(doc, constraint)
            if selector is None or not selects(selector, template_labels(doc)):
                problems.append(f"{where} does not select its own pods")
            if selector is not None:
                problems += [
                    f"{where} also selects the pods of {name_of(other)}"
                    for other in workloads(docs)
                    if other is not doc and selects(selector, template_labels(other))
                ]
    return problems
