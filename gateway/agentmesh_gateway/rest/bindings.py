"""A service's HTTP bindings, read from its methods' `google.api.http` options.

Each rule (and each of its additional bindings) gives a verb, a path template and where the
request's fields come from: the path's `{field}` variables, the body (`*` for every other field,
or one field by name) and the query string for the rest. Templates follow google/api/http.proto:

    Template = "/" Segments [ Verb ] ;       Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;   Verb = ":" LITERAL ;

and are matched against the request's raw (still percent-encoded) path, each variable decoded
after, so that an encoded "/" stays inside the one segment it was sent in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

VERBS = ("get", "put", "post", "delete", "patch")
_SEGMENT = "[^/]+"


@dataclass(frozen=True, slots=True)
class Variable:
    #: The request field it sets, as proto field names (`a.b` is ("a", "b")).
    field_path: tuple[str, ...]
    #: What OpenAPI calls it (the template's own spelling, without its pattern).
    name: str


class PathTemplate:
    def __init__(self, text: str) -> None:
        if not text.startswith("/"):
            raise ValueError(f"a path template starts with '/': {text!r}")
        self.text = text
        path, self.verb = _split_verb(text)
        self.variables: list[Variable] = []
        parts: list[str] = []
        openapi: list[str] = []
        for segment in _segments(path[1:]):
            if segment.startswith("{"):
                if not segment.endswith("}"):
                    raise ValueError(f"unclosed variable in path template {text!r}")
                name, _, pattern = segment[1:-1].partition("=")
                group = "/".join(_segment_pattern(p) for p in (pattern or "*").split("/"))
                parts.append(f"(?P<v{len(self.variables)}>{group})")
                self.variables.append(Variable(tuple(name.split(".")), name))
                openapi.append(f"{{{name}}}")
            else:
                parts.append(_segment_pattern(segment))
                openapi.append(segment)
        suffix = f":{self.verb}" if self.verb else ""
        self._regex = re.compile("^/" + "/".join(parts) + re.escape(suffix) + "$")
        #: The path as an OpenAPI document writes it.
        self.openapi_path = "/" + "/".join(openapi) + suffix
        #: The first literal segment ("v1"), which tells this API's paths from others'.
        self.root = path[1:].split("/", 1)[0]

    def match(self, raw_path: str) -> dict[tuple[str, ...], str] | None:
        """The variables' decoded values by field path, or None if the path does not match."""
        found = self._regex.match(raw_path)
        if found is None:
            return None
        return {v.field_path: unquote(found.group(f"v{i}")) for i, v in enumerate(self.variables)}

    @property
    def specificity(self) -> tuple[bool, int]:
        """What to try first: templates with a verb (`/v1/runs/{id}:cancel` before `/v1/runs/{id}`,
        whose variable would take `ID:cancel` whole), then those with more literal segments."""
        return (bool(self.verb), -len(self.variables))


@dataclass(frozen=True)
class Binding:
    """One way of calling one method over HTTP."""

    method: MethodDescriptor
    verb: str  # upper case: GET, POST...
    template: PathTemplate
    #: "*" (every field not in the path), a field's name, or "" (no body: the query string).
    body: str
    #: The response field sent as the body, or "" for the whole response.
    response_body: str

    @property
    def full_method(self) -> str:
        """The gRPC method path, which names the operation to the role table."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def streaming(self) -> bool:
        return bool(self.method.server_streaming)

    @property
    def path_fields(self) -> set[str]:
        """The top-level request fields the path sets."""
        return {v.field_path[0] for v in self.template.variables}


def service_bindings(service: ServiceDescriptor) -> list[Binding]:
    """Every binding of every method of `service` that has an http rule (client streams have
    none: HTTP/JSON carries one request), most specific template first."""
    found: list[Binding] = []
    for method in service.methods:
        options = method.GetOptions()
        if method.client_streaming or not options.HasExtension(annotations_pb2.http):
            continue
        rule = options.Extensions[annotations_pb2.http]
        for each in (rule, *rule.additional_bindings):
            found.append(binding_of(method, each))
    return sorted(found, key=lambda b: b.template.specificity, reverse=True)


def binding_of(method: MethodDescriptor, rule: http_pb2.HttpRule) -> Binding:
    pattern = rule.WhichOneof("pattern")
    if pattern in VERBS:
        verb, path = pattern.upper(), getattr(rule, pattern)
    elif pattern == "custom":
        verb, path = rule.custom.kind.upper(), rule.custom.path
    else:
        raise ValueError(f"{method.full_name}: an http rule without a pattern")
    body, fields = rule.body, method.input_type.fields_by_name
    if body not in ("", "*") and body not in fields:
        raise ValueError(f"{method.full_name}: body {body!r} is not a field of {method.input_type.name}")
    return Binding(method, verb, PathTemplate(path), body, rule.response_body)


def _split_verb(text: str) -> tuple[str, str]:
    """The path and its custom verb: a ':' after the last '/', outside any variable."""
    depth, colon = 0, -1
    for index, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "/" and depth == 0:
            colon = -1
        elif char == ":" and depth == 0:
            colon = index
    return (text, "") if colon < 0 else (text[:colon], text[colon + 1 :])


def _segments(path: str) -> list[str]:
    """`path` split at each '/' outside a variable."""
    segments, depth, start = [], 0, 0
    for index, char in enumerate(path):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "/" and depth == 0:
            segments.append(path[start:index])
            start = index + 1
    segments.append(path[start:])
    return segments


def _segment_pattern(segment: str) -> str:
    if segment == "*":
        return _SEGMENT
    if segment == "**":
        return ".+"
    return re.escape(segment)
