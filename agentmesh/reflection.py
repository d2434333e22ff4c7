"""Server reflection under both names clients ask by: `grpc.reflection.v1` (grpcurl, Postman and
grpc-go ask it first) and `grpc.reflection.v1alpha` (older clients).

grpcio-reflection serves only v1alpha. The two versions' messages are the same on the wire (v1
copied v1alpha's fields and numbers), so v1 is the same servicer registered under v1's method
name: one reflection, two names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

from agentmesh.descriptors import DocumentedPool

V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
V1ALPHA_SERVICE_NAME: str = reflection.SERVICE_NAME
SERVICE_NAMES = (V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)


def enable(service_names: Sequence[str], server: grpc.aio.Server, pool: DocumentedPool) -> None:
    """Serve reflection of `service_names` (both reflection services are added to them)."""
    servicer: Any = reflection.aio.ReflectionServicer([*service_names, *SERVICE_NAMES], pool=pool)
    for service in SERVICE_NAMES:
        handler = grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"ServerReflectionInfo": handler}),)
        )
