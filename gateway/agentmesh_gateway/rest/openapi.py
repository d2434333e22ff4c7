"""The OpenAPI 3.1 document of the HTTP/JSON surface, made from the same bindings the transcoder
serves and the contract's descriptors: a path per http rule, its parameters (the path's
variables, and for a request without a body every field the query string may set), its body and
responses (`rest.schemas`), the role it needs, and the contract's comments as descriptions.

Streams are documented as `text/event-stream` (and `application/x-ndjson`); each event's data is
the response message, whose schema `x-event-data` names (OpenAPI 3.1 has no place for it; 3.2
calls it itemSchema).
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from agentmesh_gateway.auth.principal import METHOD_ROLES, Role
from agentmesh_gateway.http.problems import HTTP_STATUS, PROBLEM_MEDIA_TYPE
from agentmesh_gateway.rest.bindings import Binding
from agentmesh_gateway.rest.codec import CURSOR_ALIAS, CURSOR_FIELD
from agentmesh_gateway.rest.frames import NDJSON, SSE
from agentmesh_gateway.rest.schemas import COMPONENTS, Docs, Schema, Schemas

OPENAPI_PATH = "/openapi.json"
PROBLEM = "Problem"
#: How deep the query string reaches into nested messages (`context.sessionId`).
_QUERY_DEPTH = 3
_TEXT_TYPES = ("google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask")


def openapi_document(
    bindings: list[Binding], docs: Docs, *, title: str, version: str, authenticated: bool
) -> dict[str, Any]:
    schemas = Schemas(docs)
    paths: dict[str, dict[str, Any]] = {}
    names: dict[str, int] = {}
    for binding in sorted(bindings, key=lambda b: b.template.openapi_path):
        name = binding.method.name
        names[name] = names.get(name, 0) + 1
        operation_id = name if names[name] == 1 else f"{name}{names[name]}"
        operation = _operation(binding, operation_id, schemas, docs)
        paths.setdefault(binding.template.openapi_path, {})[binding.verb.lower()] = operation
    service = bindings[0].method.containing_service if bindings else None
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": (docs.of(service.full_name) if service is not None else "")
            + "\n\nErrors are problem details (RFC 9457) carrying the gRPC code, reason and field"
            " violations; streams are server-sent events (Last-Event-ID resumes a run's events).",
        },
        "paths": paths,
        "components": {"schemas": {**schemas.components, PROBLEM: _problem_schema()}},
    }
    if service is not None:
        document["tags"] = [{"name": service.name, "description": docs.of(service.full_name)}]
    if authenticated:
        document["components"]["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A static API token (amt_…) or an OIDC/JWT access token.",
            }
        }
        document["security"] = [{"bearer": []}]
    return document


def _operation(binding: Binding, operation_id: str, schemas: Schemas, docs: Docs) -> dict[str, Any]:
    method, request = binding.method, binding.method.input_type
    role = METHOD_ROLES.get(binding.full_method, Role.ADMIN)
    description = docs.of(f"{method.containing_service.full_name}.{method.name}")
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [method.containing_service.name],
        "description": f"{description}\n\nNeeds the {role.label} role (with tokens checked).".strip(),
        "x-grpc-method": binding.full_method.lstrip("/"),
    }
    parameters = [_path_parameter(binding, v.field_path, v.name, schemas) for v in binding.template.variables]
    if binding.body == "*":
        body_schema = (
            schemas.object(request, binding.path_fields) if binding.path_fields else schemas.message(request)
        )
        operation["requestBody"] = _json_body(body_schema, required=not binding.path_fields)
    else:
        if binding.body:
            field = request.fields_by_name[binding.body]
            operation["requestBody"] = _json_body(schemas.field(field), required=True)
        taken = binding.path_fields | ({binding.body} if binding.body else set())
        parameters += _query_parameters(request, taken, schemas)
    if binding.streaming and CURSOR_FIELD in request.fields_by_name:
        parameters += _cursor_parameters()
    if parameters:
        operation["parameters"] = parameters
    response = schemas.message(method.output_type)
    if binding.response_body:
        response = schemas.field(method.output_type.fields_by_name[binding.response_body])
    operation["responses"] = {
        "200": _stream_response(response) if binding.streaming else _json_response(response),
        "default": {
            "description": "An error: problem details with the gRPC code, reason and field violations.",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": COMPONENTS + PROBLEM}}},
        },
    }
    return operation


def _path_parameter(binding: Binding, path: tuple[str, ...], name: str, schemas: Schemas) -> dict[str, Any]:
    field = _field_at(binding.method.input_type, path)
    return {"name": name, "in": "path", "required": True, "schema": schemas.field(field)}


def _field_at(descriptor: Descriptor, path: tuple[str, ...]) -> FieldDescriptor:
    field = descriptor.fields_by_name[path[0]]
    for part in path[1:]:
        assert field.message_type is not None, "a path variable names a field of a message"
        field = field.message_type.fields_by_name[part]
    return field


def _query_parameters(
    descriptor: Descriptor, taken: set[str], schemas: Schemas, prefix: str = "", depth: int = 0
) -> list[dict[str, Any]]:
    """A parameter per field the query string may set: scalars, enums, the well-known types
    written as text, and (with dotted names) the fields of nested messages."""
    found: list[dict[str, Any]] = []
    for field in descriptor.fields:
        if field.name in taken:
            continue
        nested = field.message_type
        if nested is not None and nested.full_name not in _TEXT_TYPES:
            if field.is_repeated or nested.full_name.startswith("google.protobuf.") or depth >= _QUERY_DEPTH:
                continue
            found += _query_parameters(nested, set(), schemas, f"{prefix}{field.json_name}.", depth + 1)
            continue
        parameter: dict[str, Any] = {
            "name": prefix + field.json_name,
            "in": "query",
            "schema": schemas.field(field),
        }
        if field.is_repeated:
            parameter["explode"] = True
        found.append(parameter)
    return found


def _cursor_parameters() -> list[dict[str, Any]]:
    text = "Events after this sequence number only (resumes a stream without a gap or a repeat)."
    sequence: Schema = {"type": "string", "pattern": "^[0-9]+$"}
    return [
        {
            "name": CURSOR_ALIAS,
            "in": "query",
            "description": f"{text} Short for afterSequence.",
            "schema": sequence,
        },
        {
            "name": "Last-Event-ID",
            "in": "header",
            "description": f"{text} What an EventSource sends when it reconnects; wins over the query.",
            "schema": sequence,
        },
    ]


def _json_body(schema: Schema, *, required: bool) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _json_response(schema: Schema) -> dict[str, Any]:
    return {"description": "The response, as ProtoJSON.", "content": {"application/json": {"schema": schema}}}


def _stream_response(item: Schema) -> dict[str, Any]:
    events = (
        "Server-sent events: each `data:` is a response (ProtoJSON, the schema in x-event-data); a run's"
        " events carry `id:` (the event's sequence) and `event:` (its kind); comments are heartbeats;"
        " a failure after the stream opened is an `error` event with problem details."
    )
    return {
        "description": "The stream of responses.",
        "content": {
            SSE: {"schema": {"type": "string", "description": events}, "x-event-data": item},
            NDJSON: {
                "schema": {"type": "string", "description": "One response per line (ProtoJSON)."},
                "x-event-data": item,
            },
        },
    }


def _problem_schema() -> Schema:
    text: Schema = {"type": "string"}
    return {
        "type": "object",
        "description": "Problem details (RFC 9457) with the gRPC status the error has on the gRPC port.",
        "properties": {
            "type": text,
            "title": text,
            "status": {"type": "integer", "description": "The HTTP status (google/rpc/code.proto's table)."},
            "detail": text,
            "code": {
                "type": "string",
                "enum": [code.name for code in HTTP_STATUS],
                "description": "The gRPC code.",
            },
            "reason": {"type": "string", "description": "google.rpc.ErrorInfo's reason, UPPER_SNAKE_CASE."},
            "domain": text,
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "violations": {
                "type": "array",
                "description": "google.rpc.BadRequest's field violations.",
                "items": {
                    "type": "object",
                    "properties": {"field": text, "description": text},
                    "required": ["field", "description"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["type", "title", "status", "detail", "code", "reason", "domain"],
        "additionalProperties": False,
    }
