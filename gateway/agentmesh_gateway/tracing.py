"""A run is one trace: its id is the run id, and each step attempt is a span in it.

The agent gets the span's context as W3C `traceparent` metadata, so its own server
span joins the run's trace. The run's root span ("run NAME", from its start to its
end) has ids derived from the run id, so that step spans made long before it (by
another gateway, even, before a restart) already name it as their parent; it is
exported when the run ends, linked to the call that started the run.

When the gateway exports spans (OTEL_TRACES_EXPORTER), each attempt is a real SDK
span. When it does not, a recorded span would go nowhere: the attempt still gets a
span id of its own (current while it runs, so its log lines carry it) and the agent
the same traceparent, but no span object is built, which was a measurable share of a
step's cost.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from agentmesh.telemetry import chosen_ids, tracing_configured
from agentmesh.v1 import run_pb2

tracer = trace.get_tracer("agentmesh.gateway")
_SAMPLED = trace.TraceFlags(trace.TraceFlags.SAMPLED)
Metadata = list[tuple[str, str]]


class RunTrace:
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._trace_id = int(run_id, 16)
        self._recording = tracing_configured()
        # The run's root: a fixed span id derived from the run id, so that attempts made
        # across retries and gateway restarts share one parent.
        root = trace.SpanContext(
            trace_id=self._trace_id,
            span_id=root_span_id(run_id),
            is_remote=True,
            trace_flags=_SAMPLED,
        )
        self._root = trace.set_span_in_context(trace.NonRecordingSpan(root))

    @contextmanager
    def attempt(self, step_id: str, agent: str = "") -> Iterator[Metadata]:
        """The span of one attempt of a step; yields the metadata that carries it to the agent.

        A CLIENT span with the RPC conventions' attributes: a tracing backend pairs it with the
        agent's SERVER span to draw the gateway → agent edge of its service graph."""
        if not self._recording:
            span_id = secrets.randbits(64) or 1
            # Not exported, but current while the attempt runs: its log lines carry its ids.
            span = trace.NonRecordingSpan(
                trace.SpanContext(self._trace_id, span_id, is_remote=False, trace_flags=_SAMPLED)
            )
            token = otel_context.attach(trace.set_span_in_context(span))
            try:
                yield [("traceparent", f"00-{self._trace_id:032x}-{span_id:016x}-01")]
            finally:
                otel_context.detach(token)
            return
        attributes = {
            "agentmesh.run_id": self.run_id,
            "agentmesh.step_id": step_id,
            "rpc.system": "grpc",
            "rpc.service": "agentmesh.v1.AgentService",
            "rpc.method": "Invoke",
        }
        if agent:
            attributes["peer.service"] = f"agentmesh-{agent}"
        with tracer.start_as_current_span(
            f"step {step_id}", context=self._root, kind=trace.SpanKind.CLIENT, attributes=attributes
        ):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            yield list(carrier.items())


def root_span_id(run_id: str) -> int:
    return int(run_id[16:], 16) or 1


def export_root_span(run: run_pb2.Run) -> None:
    """The run's root span, from its start to its end, once it has ended (if spans are exported)."""
    if not tracing_configured() or len(run.run_id) != 32:
        return
    links = []
    creator = _parse_traceparent(run.traceparent)
    if creator is not None:
        links.append(trace.Link(creator, {"agentmesh.link": "started by"}))
    attributes: dict[str, Any] = {
        "agentmesh.run_id": run.run_id,
        "agentmesh.workflow": run.workflow.name,
        "agentmesh.run_state": run_pb2.RunState.Name(run.state),
    }
    if run.principal:
        attributes["enduser.id"] = run.principal
    with chosen_ids(int(run.run_id, 16), root_span_id(run.run_id)):
        span = tracer.start_span(
            f"run {run.workflow.name or run.run_id}",
            context=otel_context.Context(),  # a root: no parent, whatever is current
            kind=trace.SpanKind.INTERNAL,
            attributes=attributes,
            links=links,
            start_time=run.start_time.ToNanoseconds() or None,
        )
    if run.state == run_pb2.RUN_STATE_FAILED:
        span.set_status(trace.Status(trace.StatusCode.ERROR, run.error.message[:200]))
    span.end(end_time=run.end_time.ToNanoseconds() or None)


def starting_traceparent(context: Any) -> str:
    """The traceparent a new run links to: the current server span's, else the caller's."""
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        return f"00-{span.trace_id:032x}-{span.span_id:016x}-{int(span.trace_flags):02x}"
    for key, value in context.invocation_metadata() or ():
        if key == "traceparent" and isinstance(value, str) and _parse_traceparent(value) is not None:
            return value
    return ""


def _parse_traceparent(value: str) -> trace.SpanContext | None:
    parts = value.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    return trace.SpanContext(trace_id, span_id, is_remote=True, trace_flags=trace.TraceFlags(flags & 1))
