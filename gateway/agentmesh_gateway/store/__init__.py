"""Where runs and their events are kept: an interface (`base`), its SQLite implementation (the
default, one machine) and its PostgreSQL one (replicas sharing a database), chosen by location."""

from pathlib import Path

from agentmesh.extras import require_extra
from agentmesh_gateway.store.base import (
    Batch,
    CallRecord,
    CallStats,
    EventRecord,
    NewRun,
    Page,
    RunFilters,
    RunStore,
    Snapshot,
    StoreConflict,
    StoreError,
    WriteResult,
    location_label,
)
from agentmesh_gateway.store.sqlite import SqliteRunStore

STORE_SCHEMES = ("sqlite", "postgresql", "postgres")


def open_store(location: str | Path, *, lease_seconds: float | None = None) -> RunStore:
    """The store at `location`: `postgresql://…` (or `postgres://`), `sqlite:///PATH`, or a file path
    (SQLite). Not opened yet: the engine opens it. `lease_seconds`: how long a replica's lease on a
    run lasts without renewal (PostgreSQL, shared by replicas; its default otherwise). A
    postgresql:// location without asyncpg installed raises MissingExtra."""
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        # Imported here: a gateway on SQLite never loads the PostgreSQL driver, an extra that a
        # plain install leaves out.
        require_extra("postgres", "a postgresql:// store")
        from agentmesh_gateway.store.postgres import DEFAULT_LEASE_SECONDS, PostgresRunStore

        return PostgresRunStore(text, lease_seconds=lease_seconds or DEFAULT_LEASE_SECONDS)
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
    "RunFilters",
    "RunStore",
    "Snapshot",
    "SqliteRunStore",
    "StoreConflict",
    "StoreError",
    "WriteResult",
    "location_label",
    "open_store",
]
