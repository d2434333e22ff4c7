"""Where runs and their events are kept: an interface, and its SQLite implementation."""

from gateway.store.base import Batch, CallRecord, EventRecord, NewRun, Page, RunStore, Snapshot
from gateway.store.sqlite import SqliteRunStore

__all__ = ["Batch", "CallRecord", "EventRecord", "NewRun", "Page", "RunStore", "Snapshot", "SqliteRunStore"]
