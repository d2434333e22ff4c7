"""A run is one trace: its id is the run id, and each step attempt is a span in it.

The agent gets the span's context as W3C `traceparent` metadata, so its own server
span joins the run's trace. When the gateway exports spans (OTEL_TRACES_EXPORTER),
each attempt is a real SDK span. When it does not, a recorded span would go nowhere:
the attempt still gets a span id of its own and the agent the same traceparent, but
no span object is built, which was a measurable share of a step's cost.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import propagate, trace

from agentmesh.telemetry import tracing_configured

tracer = trace.get_tracer("agentmesh.gateway")
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
            span_id=int(run_id[16:], 16) or 1,
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
        self._root = trace.set_span_in_context(trace.NonRecordingSpan(root))

    @contextmanager
    def attempt(self, step_id: str) -> Iterator[Metadata]:
        """The span of one attempt of a step; yields the metadata that carries it to the agent."""
        if not self._recording:
            span_id = secrets.randbits(64) or 1
            yield [("traceparent", f"00-{self._trace_id:032x}-{span_id:016x}-01")]
            return
        with tracer.start_as_current_span(
            f"step {step_id}", context=self._root, attributes={"agentmesh.run_id": self.run_id}
        ):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            yield list(carrier.items())
