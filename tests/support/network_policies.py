"""NetworkPolicies over rendered manifests: a default deny, and rules stating what each workload
needs to reach and be reached by, nothing left open to everything.

A check in the manner of tests/support/manifests.py: it returns one line per problem, naming the
object, and an empty list when the manifests pass. It evaluates the policies as the API defines
them (a pod is isolated in a direction once any policy selects it for it; then only what some rule
admits passes), for pods of one namespace, which is all that deploy/ renders.
"""

from __future__ import annotations

from typing import Any

from tests.support.manifests import Doc, container_ports, containers, name_of, selects, workloads

Labels = dict[str, str]


def pod_labels(doc: Doc) -> Labels:
    return dict(doc["spec"]["template"]["metadata"].get("labels", {}))


def port_admitted(entries: list[Doc] | None, number: int, name: str | None, protocol: str) -> bool:
    """A rule's `ports` admitting this port: no entries admit all; a named entry admits the port
    of that name at the other end."""
    if not entries:
        return True
    for entry in entries:
        if entry.get("protocol", "TCP") != protocol:
            continue
        port: Any = entry.get("port")
        if port is None or (isinstance(port, str) and port == name):
            return True
        if isinstance(port, int) and port <= number <= entry.get("endPort", port):
            return True
    return False


def peer_admitted(peers: list[Doc] | None, labels: Labels | None) -> bool:
    """A rule's `to` or `from` admitting a pod of this namespace with `labels`, or, with `labels`
    None, an address outside the cluster."""
    if not peers:
        return True
    for peer in peers:
        if labels is None and ("ipBlock" in peer or "namespaceSelector" in peer):
            return True  # outside: an address block, or a service in another namespace
        # A pod of this namespace: a podSelector, and no namespaceSelector narrowing it elsewhere.
        in_namespace = "podSelector" in peer and selects(peer.get("namespaceSelector"), {})
        if labels is not None and in_namespace and selects(peer["podSelector"], labels):
            return True
    return False


def policy_types(policy: Doc) -> list[str]:
    """As the API defaults them: Ingress always, Egress when the policy has egress rules."""
    spec = policy["spec"]
    return list(spec.get("policyTypes") or ["Ingress", *(["Egress"] if spec.get("egress") else [])])


def rules(docs: list[Doc], labels: Labels, direction: str) -> list[Doc] | None:
    """The rules applying to a pod with `labels` in `direction` ("ingress" or "egress"), or None
    when no policy isolates it that way (everything passes)."""
    kind = direction.capitalize()
    chosen = [
        d
        for d in docs
        if d["kind"] == "NetworkPolicy"
        and selects(d["spec"].get("podSelector"), labels)
        and kind in policy_types(d)
    ]
    if not chosen:
        return None
    return [rule for policy in chosen for rule in policy["spec"].get(direction, [])]


def admits(
    found: list[Doc] | None,
    direction: str,
    peer: Labels | None,
    number: int,
    name: str | None = None,
    protocol: str = "TCP",
) -> bool:
    if found is None:
        return True
    peers = "to" if direction == "egress" else "from"
    return any(
        peer_admitted(rule.get(peers), peer) and port_admitted(rule.get("ports"), number, name, protocol)
        for rule in found
    )


def llm_of(container: Doc, docs: list[Doc]) -> str:
    """The container's AGENTMESH_LLM, its ConfigMap reference resolved ("offline" when unset)."""
    data = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    for entry in container.get("env", []):
        if entry["name"] == "AGENTMESH_LLM":
            if "value" in entry:
                return str(entry["value"])
            ref = entry["valueFrom"]["configMapKeyRef"]
            return str(data.get(ref["name"], {}).get(ref["key"], "offline"))
    return "offline"


def grpc_port(doc: Doc) -> int:
    return container_ports(containers(doc)[0])["grpc"]


def traffic_stated(docs: list[Doc], database_port: int = 5432, llm_port: int = 443) -> list[str]:
    """A default-deny policy; the gateway's gRPC port open to its clients; the gateway to each
    agent's gRPC port both ways; every pod to DNS; the gateway to PostgreSQL where its store is
    one; agents to their model's API (HTTPS) unless it is the offline one; no egress to anything."""
    problems = []
    if not any(
        d["kind"] == "NetworkPolicy"
        and selects(d["spec"].get("podSelector"), {})
        and not d["spec"]["podSelector"]
        and {"Ingress", "Egress"} <= set(policy_types(d))
        and not d["spec"].get("ingress")
        and not d["spec"].get("egress")
        for d in docs
    ):
        problems.append("no default-deny NetworkPolicy (every pod, ingress and egress, no rules)")
    found = workloads(docs)
    gateways = [d for d in found if pod_labels(d).get("app.kubernetes.io/component") == "gateway"]
    agents = [d for d in found if pod_labels(d).get("app.kubernetes.io/component") == "agent"]
    for doc in found:
        labels, egress = pod_labels(doc), rules(docs, pod_labels(doc), "egress")
        if not admits(egress, "egress", None, 53, protocol="UDP"):
            problems.append(f"{name_of(doc)}: no egress to DNS (UDP 53)")
        # Not isolated, or a rule with neither peers nor ports: every port to everywhere.
        if egress is None or any(not rule.get("to") and not rule.get("ports") for rule in egress):
            problems.append(f"{name_of(doc)}: egress to anything")
        remote_model = doc in agents and llm_of(containers(doc)[0], docs) != "offline"
        if remote_model and not admits(egress, "egress", None, llm_port):
            problems.append(f"{name_of(doc)}: no egress to its model's API (TCP {llm_port})")
        if doc in gateways:
            if not admits(rules(docs, labels, "ingress"), "ingress", None, grpc_port(doc), "grpc"):
                problems.append(f"{name_of(doc)}: its gRPC port admits no client")
            env = {e["name"] for e in containers(doc)[0].get("env", [])}
            if "AGENTMESH_STORE" in env and not admits(egress, "egress", None, database_port):
                problems.append(f"{name_of(doc)}: no egress to its database (TCP {database_port})")
            for agent in agents:
                port, theirs = grpc_port(agent), pod_labels(agent)
                if not admits(egress, "egress", theirs, port, "grpc"):
                    problems.append(f"{name_of(doc)}: no egress to {name_of(agent)} on {port}")
                if not admits(rules(docs, theirs, "ingress"), "ingress", labels, port, "grpc"):
                    problems.append(f"{name_of(agent)}: does not admit {name_of(doc)} on {port}")
    return problems
