"""The PostgreSQL store's schema: its migrations, each applied once, in order (see `postgres`)."""

from __future__ import annotations

#: ListRuns by workflow (its name; NULL until filled in from the snapshot, see `_fill_workflows`)
#: and by a query on the name folded in Python (store.base.fold), whatever the database's locale;
#: the tokens each agent call reported.
WORKFLOWS_AND_TOKENS = """
    ALTER TABLE runs ADD COLUMN workflow text;
    ALTER TABLE runs ADD COLUMN workflow_key text;
    CREATE INDEX runs_by_workflow ON runs (workflow, create_time DESC, run_id DESC);
    ALTER TABLE calls ADD COLUMN tokens bigint NOT NULL DEFAULT 0;
    """

#: Replicas' liveness (see `postgres_liveness`): the key of each gateway process's liveness lock,
#: from a sequence so that no two processes share one, the replica it names and the server
#: instance it was taken on; and on each run, the key of its lease holder's process.
LIVENESS = """
    CREATE SEQUENCE replica_lock_keys AS integer CYCLE;
    CREATE TABLE replica_locks (
        lock_key       integer PRIMARY KEY,
        replica        text NOT NULL,
        server_started timestamptz NOT NULL  -- pg_postmaster_start_time() when it was locked
    );
    ALTER TABLE runs ADD COLUMN lease_key integer;
    """

#: Each migration once, in order; a store records the last one applied.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        run_id      text PRIMARY KEY,
        request_id  text UNIQUE,             -- the idempotency key: owner, newline, request_id
        state       integer NOT NULL,
        create_time bigint NOT NULL,
        snapshot    bytea NOT NULL,
        owner       text NOT NULL DEFAULT ''
    );
    CREATE INDEX runs_by_time ON runs (create_time DESC, run_id DESC);
    CREATE INDEX runs_by_state ON runs (state, create_time DESC, run_id DESC);
    CREATE INDEX runs_by_owner ON runs (owner, create_time DESC, run_id DESC);
    CREATE TABLE events (
        run_id   text NOT NULL,
        sequence bigint NOT NULL,
        event    bytea NOT NULL,
        PRIMARY KEY (run_id, sequence)
    );
    CREATE TABLE calls (
        agent  text NOT NULL,
        ok     boolean NOT NULL,
        millis double precision NOT NULL
    );
    CREATE INDEX calls_by_agent ON calls (agent);
    CREATE TABLE chat (
        session_id text NOT NULL,
        turn       integer NOT NULL,
        role       text NOT NULL,
        text       text NOT NULL,
        PRIMARY KEY (session_id, turn)
    );
    """,
    """
    ALTER TABLE runs ADD COLUMN lease_owner text NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN lease_until timestamptz;
    ALTER TABLE runs ADD COLUMN fence bigint NOT NULL DEFAULT 0;
    CREATE INDEX runs_unfinished ON runs (create_time) WHERE state NOT IN (3, 4, 5);
    CREATE TABLE cancels (
        run_id text PRIMARY KEY,
        reason text NOT NULL
    );
    """,
    """
    CREATE TABLE inputs (
        run_id    text NOT NULL,
        step_id   text NOT NULL,
        item      integer NOT NULL,          -- -1 for a plain step
        turn      integer NOT NULL,
        answer    bytea NOT NULL,
        principal text NOT NULL,
        added     timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (run_id, step_id, item, turn)
    );
    """,
    """
    ALTER TABLE runs ADD COLUMN wake_at bigint;  -- a parked run's next timer, ns since the epoch
    CREATE INDEX runs_by_wake ON runs (wake_at) WHERE wake_at IS NOT NULL;
    """,
    WORKFLOWS_AND_TOKENS,
    """
    CREATE TABLE workflows (
        id          bigserial PRIMARY KEY,
        name        text NOT NULL,
        version     text NOT NULL,
        digest      text NOT NULL,
        definition  bytea NOT NULL,
        create_time bigint NOT NULL,
        UNIQUE (name, version)
    );
    ALTER TABLE runs ADD COLUMN workflow_version text;
    CREATE INDEX runs_by_version ON runs (workflow, workflow_version);
    CREATE TABLE schedules (
        name        text PRIMARY KEY,
        owner       text NOT NULL,
        spec        bytea NOT NULL,
        create_time bigint NOT NULL,
        next_fire   bigint,                  -- ns since the epoch; NULL while paused
        last_fire   bigint,
        last_run_id text NOT NULL DEFAULT ''
    );
    CREATE INDEX schedules_due ON schedules (next_fire) WHERE next_fire IS NOT NULL;
    CREATE TABLE replicas (
        replica text PRIMARY KEY,
        seen    timestamptz NOT NULL
    );
    """,
    LIVENESS,
)
