// The runs: newest first, refreshed every two seconds, filtered by state, workflow and
// principal, searched by id or workflow name, paged by the gateway's page tokens. Filters and
// the page live in the URL. Each run says who started it (a principal, a schedule, a parent
// run), when a sleeping one wakes, and how many of its steps wait in an agent's queue.

import { useEffect, useRef, useState } from "preact/hooks";

import { api } from "../api";
import { formatDuration, formatTime, ms, RUN_STATE_FILTERS, runLook, stepLook } from "../format";
import { useNow, usePolled } from "../hooks";
import { navigate, withQuery } from "../router";
import type { Run, StepStateName } from "../types";

const PAGE_SIZES = ["10", "25", "50", "100"];

export function StateBadge({ state, kind = "run" }: { state: string | undefined; kind?: "run" | "step" }) {
  const look = kind === "step" ? stepLook(state as StepStateName) : runLook(state as Run["state"]);
  return (
    <span class={`badge tone-${look.tone}`} data-kind={kind}>
      <span aria-hidden="true">{look.glyph}</span> {look.label}
    </span>
  );
}

/** What the state alone does not say: when a sleeping run wakes, how many steps are queued. */
function StateNote({ run }: { run: Run }) {
  if (run.state === "RUN_STATE_SLEEPING" && run.wakeTime) return <span class="small tone-sleep"> wakes {formatTime(run.wakeTime)}</span>;
  const queued = (run.steps ?? []).filter((s) => s.state === "STEP_STATE_QUEUED").length;
  if (queued > 0 && run.state === "RUN_STATE_RUNNING") {
    return (
      <span class="small tone-queue" data-testid="queued-note">
        {" "}
        <span aria-hidden="true">≡</span> {queued} queued
      </span>
    );
  }
  return null;
}

/** Who started the run: a principal, a schedule, or a parent run's step. */
function StartedBy({ run }: { run: Run }) {
  if (run.parent?.runId) {
    return (
      <span data-testid="started-by-parent">
        <span aria-hidden="true">↳</span>
        <span class="sr-only">child run of</span>{" "}
        <a href={withQuery(`/runs/${run.parent.runId}`, { step: run.parent.stepId })} class="mono run-id">
          {run.parent.runId.slice(0, 8)}…
        </a>
        {run.parent.stepId ? <span class="small muted"> step {run.parent.stepId}</span> : null}
      </span>
    );
  }
  if (run.schedule) {
    return (
      <span data-testid="started-by-schedule">
        <span aria-hidden="true">◷</span> <a href={`/schedules/${encodeURIComponent(run.schedule)}`}>{run.schedule}</a>
        {run.principal ? <span class="small muted"> as {run.principal}</span> : null}
      </span>
    );
  }
  return <>{run.principal ?? "—"}</>;
}

export function runDuration(run: Run, now: number): number | null {
  const start = ms(run.startTime) ?? ms(run.createTime);
  if (start === null) return null;
  return (ms(run.endTime) ?? now) - start;
}

export function RunsView({ query }: { query: URLSearchParams }) {
  const filters = {
    state: query.get("state") ?? "",
    workflow: query.get("workflow") ?? "",
    principal: query.get("principal") ?? "",
    q: query.get("q") ?? "",
    page: query.get("page") ?? "",
    size: query.get("size") ?? "50",
  };
  const key = JSON.stringify(filters);
  const runs = usePolled(
    (signal) =>
      api.listRuns(
        {
          pageSize: Number(filters.size) || 50,
          pageToken: filters.page,
          state: filters.state,
          workflow: filters.workflow,
          principal: filters.principal,
          query: filters.q,
        },
        signal,
      ),
    key,
    2000,
  );
  const workflows = usePolled(() => api.listWorkflows(), "workflows");
  const now = useNow(1000);
  // Tokens of the pages before this one, to page back (the gateway's tokens only go forward).
  const history = useRef<Record<string, string[]>>({});
  const base = JSON.stringify({ ...filters, page: "" });
  const previous = history.current[base] ?? [];

  const [search, setSearch] = useState(filters.q);
  const [principal, setPrincipal] = useState(filters.principal);
  useEffect(() => {
    setSearch(filters.q);
    setPrincipal(filters.principal);
  }, [filters.q, filters.principal]);

  const go = (changes: Partial<typeof filters>, keepPage = false): void => {
    const next = { ...filters, ...changes };
    if (!keepPage) next.page = "";
    navigate(withQuery("/runs", { ...next, size: next.size === "50" ? "" : next.size }), true);
  };

  const list = runs.data?.runs ?? [];
  const names = (workflows.data?.workflows ?? []).map((w) => w.name ?? "").filter(Boolean);
  if (filters.workflow && !names.includes(filters.workflow)) names.push(filters.workflow);
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1}>
        Runs
      </h1>
      <form
        class="filters"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          go({ q: search.trim(), principal: principal.trim() });
        }}
      >
        <div class="field">
          <label for="filter-q">Search</label>
          <input
            id="filter-q"
            type="search"
            placeholder="run id or workflow"
            value={search}
            onInput={(event) => {
              setSearch(event.currentTarget.value);
            }}
          />
        </div>
        <div class="field">
          <label for="filter-state">State</label>
          <select
            id="filter-state"
            value={filters.state}
            onChange={(event) => {
              go({ state: event.currentTarget.value });
            }}
          >
            {RUN_STATE_FILTERS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="filter-workflow">Workflow</label>
          <select
            id="filter-workflow"
            value={filters.workflow}
            onChange={(event) => {
              go({ workflow: event.currentTarget.value });
            }}
          >
            <option value="">any workflow</option>
            {names.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="filter-principal">Principal</label>
          <input
            id="filter-principal"
            type="text"
            placeholder="who started it"
            value={principal}
            onInput={(event) => {
              setPrincipal(event.currentTarget.value);
            }}
          />
        </div>
        <div class="field actions">
          <button type="submit">Apply</button>
          {filters.state || filters.workflow || filters.principal || filters.q ? (
            <button
              type="button"
              class="quiet"
              onClick={() => {
                setSearch("");
                setPrincipal("");
                navigate("/runs", true);
              }}
            >
              Clear
            </button>
          ) : null}
        </div>
      </form>
      {runs.error ? (
        <p class="form-error" role="alert">
          {runs.error}
        </p>
      ) : null}
      <div class="table-wrap">
        <table class="runs" aria-busy={runs.loading}>
          <caption class="sr-only">Runs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Workflow</th>
              <th scope="col">State</th>
              <th scope="col">Started by</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {list.map((run) => (
              <tr key={run.runId} data-run={run.runId} data-state={run.state}>
                <td data-label="Run">
                  <a href={`/runs/${run.runId}`} class="mono run-id">
                    {run.runId}
                  </a>
                </td>
                <td data-label="Workflow">
                  {run.workflow?.name ?? ""}
                  {run.workflow?.version ? <span class="muted small">@{run.workflow.version}</span> : null}
                </td>
                <td data-label="State">
                  <StateBadge state={run.state} />
                  <StateNote run={run} />
                </td>
                <td data-label="Started by">
                  <StartedBy run={run} />
                </td>
                <td data-label="Started">{formatTime(run.startTime ?? run.createTime)}</td>
                <td data-label="Duration">{formatDuration(runDuration(run, now))}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {!runs.loading && list.length === 0 ? <p class="muted empty">No runs match.</p> : null}
      </div>
      <nav class="pager" aria-label="pages of runs">
        <button
          type="button"
          disabled={!filters.page}
          onClick={() => {
            const back = previous.slice(0, -1);
            history.current[base] = back;
            go({ page: previous[previous.length - 1] ?? "" }, true);
          }}
        >
          ← Newer
        </button>
        <span class="muted">page {previous.length + 1}</span>
        <button
          type="button"
          disabled={!runs.data?.nextPageToken}
          onClick={() => {
            history.current[base] = [...previous, filters.page];
            go({ page: runs.data?.nextPageToken ?? "" }, true);
          }}
        >
          Older →
        </button>
        <label class="inline">
          Rows per page{" "}
          <select
            value={filters.size}
            onChange={(event) => {
              history.current = {};
              go({ size: event.currentTarget.value });
            }}
          >
            {(PAGE_SIZES.includes(filters.size) ? PAGE_SIZES : [filters.size, ...PAGE_SIZES]).map((size) => (
              <option key={size} value={size}>
                {size}
              </option>
            ))}
          </select>
        </label>
      </nav>
    </section>
  );
}
