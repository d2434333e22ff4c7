"""Where runs and their events are kept: an interface, and its SQLite implementation."""

from gateway.store.base import Page, RunStore, Snapshot
from gateway.store.sqlite import SqliteRunStore

__all__ = ["Page", "RunStore", "Snapshot", "SqliteRunStore"]
