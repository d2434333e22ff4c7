"""The gateway's own Prometheus metrics, beside the gRPC server metrics every agentmesh process has.

Updated where the engine does the work (a run starting and ending, an agent call, a
retry, a store commit), never computed at scrape time: a scrape reads counters and
touches neither the store nor the event loop.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from agentmesh.v1 import run_pb2
from agentmesh_gateway.admission import Admission

# The store's runs: with replicas sharing a store each replica reports the whole store's counts
# (read again every lease round), so dashboards take the max across replicas, not the sum.
RUNS = Gauge(
    "agentmesh_runs", "Runs in the store, by state (the whole store's, on every replica).", ["state"]
)
RUNS_STARTED = Counter("agentmesh_runs_started_total", "Runs started on this gateway.")
RUNS_FINISHED = Counter(
    "agentmesh_runs_finished_total", "Runs that ended on this gateway, by state.", ["state"]
)
RUNS_IN_FLIGHT = Gauge("agentmesh_runs_in_flight", "Runs executing now (the admission bound counts these).")
WATCHERS = Gauge("agentmesh_watchers", "WatchRun and RunWorkflow streams open now.")
STEP_DURATION = Histogram(
    "agentmesh_step_duration_seconds",
    "Agent calls made for steps (one per attempt and for_each item), by agent and outcome (ok, error).",
    ["agent", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
STEP_RETRIES = Counter("agentmesh_step_retries_total", "Step attempts retried, by agent.", ["agent"])
RUN_TOKENS = Counter(
    "agentmesh_run_tokens_total", "Tokens agent replies reported in runs, by model.", ["model", "kind"]
)
RUN_COST = Counter(
    "agentmesh_run_cost_total", "What agent replies in runs cost at the gateway's prices.", ["model"]
)
STORE_COMMIT = Histogram(
    "agentmesh_store_commit_seconds",
    "Time to commit one batch of events to the run store.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


def state_label(state: int) -> str:
    return run_pb2.RunState.Name(run_pb2.RunState.ValueType(state)).removeprefix("RUN_STATE_").lower()


def follow_admission(admission: Admission) -> None:
    """Read the gauges of runs in flight and watchers from this gateway's admission control."""
    RUNS_IN_FLIGHT.set_function(lambda: admission.runs)
    WATCHERS.set_function(lambda: admission.watchers)


def runs_counted(counts: dict[int, int]) -> None:
    """The store's runs by state, as found at start-up."""
    for state, count in counts.items():
        RUNS.labels(state_label(state)).set(count)


def run_started() -> None:
    RUNS_STARTED.inc()
    RUNS.labels("running").inc()


def run_ended(state: int) -> None:
    label = state_label(state)
    RUNS.labels("running").dec()
    RUNS.labels(label).inc()
    RUNS_FINISHED.labels(label).inc()
