"""Where runs and their events are kept: an interface, and its SQLite implementation."""

from agentmesh_gateway.store.base import (
    Batch,
    CallRecord,
    CallStats,
    EventRecord,
    NewRun,
    Page,
    RunStore,
    Snapshot,
)
from agentmesh_gateway.store.sqlite import SqliteRunStore

__all__ = [
    "Batch",
    "CallRecord",
    "CallStats",
    "EventRecord",
    "NewRun",
    "Page",
    "RunStore",
    "Snapshot",
    "SqliteRunStore",
]
