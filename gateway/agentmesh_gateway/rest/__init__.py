"""OrchestratorService as HTTP/JSON on the gateway's HTTP port, transcoded from its protos.

At start the transcoder reads each RPC's `google.api.http` rule from the service's descriptor
(`bindings`) and serves it: the request message is built from the path's variables, the body
(ProtoJSON) and the query string (`codec`), and the one gRPC servicer is called with an HTTP
servicer context (`context`), so that its error mapping (`agentmesh.status.rpc_errors`), its
role table and tenant isolation hold here exactly as on the gRPC port (`surface`). Errors are
problem details (`http.problems`); server streams are server-sent events, or newline-delimited
JSON on request, resumable with Last-Event-ID (`streams`). `/openapi.json` is the OpenAPI 3.1
document of the same bindings, with the contract's comments (`openapi`, `schemas`).

No route is written by hand: an RPC the protos bind is served as soon as the servicer has it.
"""

from agentmesh_gateway.rest.openapi import OPENAPI_PATH
from agentmesh_gateway.rest.surface import RestOptions, RestSurface

__all__ = ["OPENAPI_PATH", "RestOptions", "RestSurface"]
