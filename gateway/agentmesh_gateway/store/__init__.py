"""Where runs and their events are kept: an interface (`base`), its SQLite implementation (the
default, one machine) and its PostgreSQL one (replicas sharing a database), chosen by location."""

from pathlib import Path

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

STORE_SCHEMES = ("sqlite", "postgresql", "postgres")


def open_store(location: str | Path) -> RunStore:
    """The store at `location`: `postgresql://…` (or `postgres://`), `sqlite:///PATH`, or a file path
    (SQLite). Not opened yet: the engine opens it."""
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        # Imported here: a gateway on SQLite never loads the PostgreSQL driver.
        from agentmesh_gateway.store.postgres import PostgresRunStore

        return PostgresRunStore(text)
    if text.startswith("sqlite:///"):
        return SqliteRunStore(text.removeprefix("sqlite:///") or ".")
    if "://" in text:
        raise ValueError(
            f"{text.partition('://')[0]}:// is not a store (use a file, sqlite:///PATH or postgresql://)"
        )
    return SqliteRunStore(text)


__all__ = [
    "STORE_SCHEMES",
    "Batch",
    "CallRecord",
    "CallStats",
    "EventRecord",
    "NewRun",
    "Page",
    "RunStore",
    "Snapshot",
    "SqliteRunStore",
    "open_store",
]
