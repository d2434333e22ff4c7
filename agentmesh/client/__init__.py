"""The Python client of the gateway: start runs, follow them, await their results.

`Client` is async; `SyncClient` is the same, blocking, for scripts and notebooks. Runs
and their events are plain Python values (`Run`, `StepRun`, one class per event kind);
a failed call raises the agentmesh error it stands for (see `agentmesh.errors`).
"""

from agentmesh.client._client import DEFAULT_TARGET, Client, WorkflowSource, default_target
from agentmesh.client._events import (
    Event,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunResumed,
    RunStarted,
    RunWaiting,
    StepChildStarted,
    StepCompleted,
    StepFailed,
    StepInputProvided,
    StepInputRequired,
    StepOutputChunk,
    StepQueued,
    StepRetrying,
    StepSkipped,
    StepSleeping,
    StepStarted,
    event_from_proto,
)
from agentmesh.client._handle import RunHandle
from agentmesh.client._reports import (
    AgentMetrics,
    AgentStatus,
    Caller,
    ChatReply,
    Metrics,
    Replica,
    ReplicaHealth,
)
from agentmesh.client._runs import InputRequest, Run, RunError, RunState, StepRun, StepState, Usage
from agentmesh.client._schedules import CATCH_UP_POLICIES, OVERLAP_POLICIES, ScheduleHandle, schedule_message
from agentmesh.client._sync import SyncClient, SyncRunHandle
from agentmesh.workflows import load_workflow, parse_workflow

__all__ = [
    "CATCH_UP_POLICIES",
    "DEFAULT_TARGET",
    "OVERLAP_POLICIES",
    "AgentMetrics",
    "AgentStatus",
    "Caller",
    "ChatReply",
    "Client",
    "Event",
    "InputRequest",
    "Metrics",
    "Replica",
    "ReplicaHealth",
    "Run",
    "RunCancelled",
    "RunCompleted",
    "RunError",
    "RunFailed",
    "RunHandle",
    "RunResumed",
    "RunStarted",
    "RunState",
    "RunWaiting",
    "ScheduleHandle",
    "StepChildStarted",
    "StepCompleted",
    "StepFailed",
    "StepInputProvided",
    "StepInputRequired",
    "StepOutputChunk",
    "StepQueued",
    "StepRetrying",
    "StepRun",
    "StepSkipped",
    "StepSleeping",
    "StepStarted",
    "StepState",
    "SyncClient",
    "SyncRunHandle",
    "Usage",
    "WorkflowSource",
    "default_target",
    "event_from_proto",
    "load_workflow",
    "parse_workflow",
    "schedule_message",
]
