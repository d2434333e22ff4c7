"""A pytest plugin for the A2A TCK's runs (`-p a2a_tck_shims`): it makes the TCK's clients do two
things the A2A spec asks of a client and the TCK (branch 1.0-dev) does not. Neither touches a
check: only what the clients send.

- The tenant. A2A §8.3.2 (rule 4, v1.0.1) has a client set a request's `tenant` to the one its
  chosen interface declares; the proto's AgentInterface.tenant says as much in v1.0.0. The
  TCK's gRPC client reads an interface's `url` only and never sets `tenant`, so it cannot address
  an agent reached by tenant, as each agent the gateway exposes is on its gRPC port. (The HTTP
  interfaces declare no tenant: the URL's path says which agent.)
- Message ids. A message's id is "the unique identifier of the message, created by the message
  creator" (a2a.proto, Message.message_id), and an agent may take a message with an id it has
  seen as a re-sent one (§3.3.1), as the gateway does: it answers with the task that message
  made. The TCK's ids are unique per session and prefix (`tck_id`), so every "tck-input-required"
  message of a session is one message to such an agent. The clients here add a counter to each
  id they send; the prefix the scenario agent acts on stays as it was.

Runs in the TCK's interpreter: stdlib, grpc and httpx only.
"""

from __future__ import annotations

import functools
import importlib
import itertools
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import grpc
import httpx
import pytest

CLIENTS = (
    ("tck.transport.grpc_client", "GrpcClient"),
    ("tck.transport.jsonrpc_client", "JsonRpcClient"),
    ("tck.transport.http_json_client", "HttpJsonClient"),
)
_sent = itertools.count(1)


class _Tenant(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Sets `tenant` on each request that has the field and leaves it empty."""

    def __init__(self, tenant: str) -> None:
        self._tenant = tenant

    def _with_tenant(self, request: Any) -> Any:
        if "tenant" in request.DESCRIPTOR.fields_by_name and not request.tenant:
            request = type(request).FromString(request.SerializeToString())
            request.tenant = self._tenant
        return request

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(details, self._with_tenant(request))

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(details, self._with_tenant(request))


def declared_tenant(sut_host: str) -> str:
    """The tenant of the card's first GRPC interface ("" when none is declared)."""
    card = httpx.get(f"{sut_host.rstrip('/')}/.well-known/agent-card.json", timeout=30).json()
    grpc_interfaces = [i for i in card.get("supportedInterfaces", []) if i.get("protocolBinding") == "GRPC"]
    return str(grpc_interfaces[0].get("tenant", "")) if grpc_interfaces else ""


def send_tenant(tenant: str) -> None:
    grpc_client: Any = importlib.import_module("tck.transport.grpc_client")
    stub_class = grpc_client.a2a_pb2_grpc.A2AServiceStub

    class TenantStub(stub_class):  # type: ignore[misc, valid-type]
        def __init__(self, channel: grpc.Channel) -> None:
            super().__init__(grpc.intercept_channel(channel, _Tenant(tenant)))

    # The client makes its stub anew on every reconnection, by this module-level name.
    grpc_client.a2a_pb2_grpc = SimpleNamespace(A2AServiceStub=TenantStub)


def _unique(send: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(send)
    def sending(self: Any, message: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        key = "messageId" if "messageId" in message else "message_id"
        if message.get(key):
            message = {**message, key: f"{message[key]}-{next(_sent)}"}
        return send(self, message, *args, **kwargs)

    return sending


def send_unique_message_ids() -> None:
    for module, name in CLIENTS:
        client = getattr(importlib.import_module(module), name)
        for method in ("send_message", "send_streaming_message"):
            setattr(client, method, _unique(getattr(client, method)))


def pytest_configure(config: pytest.Config) -> None:
    tenant = declared_tenant(str(config.getoption("--sut-host")))
    if tenant:
        send_tenant(tenant)
    send_unique_message_ids()
