// One run: its DAG with each step's state changing live, a timeline of attempts, retries,
// items and waits, the event log tailing by sequence, each step's input, output, error and
// trace, cancel, and a form for each question waiting (an agent's, or an ask step's approval).
// Who started it (a schedule, a parent run's step), when a sleeping run wakes, and what it spent
// against its budget.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";

import { api } from "../api";
import { limitText } from "../events";
import { formatDuration, formatTime, formatWhen, isFinal, runLook, stepLook } from "../format";
import { useNow } from "../hooks";
import { RunModel } from "../runmodel";
import { navigate, withQuery } from "../router";
import { follow, type StreamStatus } from "../sse";
import type { Caller, Run, RunEvent } from "../types";
import { Dag } from "./dag";
import { EventLog } from "./eventlog";
import { Question } from "./question";
import { ChildRuns, JsonBlock, StepDetails } from "./stepdetails";
import { Timeline } from "./timeline";
import { UsagePanel } from "./usagepanel";

/** The message of a problem a stream ended with (`event: error`). */
function problemText(data: string): string {
  try {
    const body = JSON.parse(data) as { detail?: string; title?: string };
    return body.detail ?? body.title ?? data;
  } catch {
    return data;
  }
}

/** Marks for the first-paint figure (bench/console.py reads them). */
function mark(name: string): void {
  if (performance.getEntriesByName(name).length === 0) performance.mark(name);
}

function useRun(runId: string): { model: RunModel; version: number; status: StreamStatus; detail: string; error: string; refresh: (run: Run) => void } {
  const model = useMemo(() => new RunModel(runId), [runId]);
  const [version, setVersion] = useState(0);
  const [status, setStatus] = useState<StreamStatus>("connecting");
  const [detail, setDetail] = useState("");
  const [error, setError] = useState("");
  const frame = useRef(0);
  const bump = useRef<() => void>(() => undefined);
  bump.current = () => {
    if (frame.current) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      setVersion(model.version);
    });
  };

  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    setStatus("connecting");
    setError("");
    const snapshot = async (): Promise<void> => {
      try {
        const { run } = await api.getRun(runId, signal);
        if (run) model.applySnapshot(run);
        bump.current();
      } catch (exc) {
        if (!signal.aborted) setError(exc instanceof Error ? exc.message : String(exc));
      }
    };
    // The snapshot and the history at once: whichever comes first is drawn first.
    void snapshot();
    let refetched = false;
    void follow({
      url: () => `/v1/runs/${encodeURIComponent(runId)}/events?after=${model.lastSeq}`,
      signal,
      finished: () => model.final,
      onStatus: (next, why) => {
        setStatus(next);
        setDetail(why ?? "");
      },
      onMessage: (message) => {
        if (message.event === "error") {
          setDetail(problemText(message.data));
          return;
        }
        let event: RunEvent;
        try {
          const body = JSON.parse(message.data) as { event?: RunEvent } & RunEvent;
          event = body.event ?? body;
        } catch {
          return;
        }
        if (model.applyEvent(event)) bump.current();
        if (model.sawFinal && !refetched) {
          refetched = true;
          void snapshot(); // the final word on outputs and errors
        }
      },
    });
    return () => {
      controller.abort();
      cancelAnimationFrame(frame.current);
      frame.current = 0;
    };
  }, [model, runId]);

  return {
    model,
    version,
    status,
    detail,
    error,
    refresh: (run: Run) => {
      model.applySnapshot(run);
      bump.current();
    },
  };
}

function CancelControl({ runId, onDone }: { runId: string; onDone: (run: Run) => void }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const confirm = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) confirm.current?.focus();
  }, [asking]);
  if (!asking) {
    return (
      <button
        type="button"
        class="danger"
        onClick={() => {
          setAsking(true);
        }}
      >
        Cancel run
      </button>
    );
  }
  return (
    <div class="confirm" role="group" aria-label="confirm cancelling the run">
      <span>Cancel this run? Steps in flight stop at once.</span>
      <button
        ref={confirm}
        type="button"
        class="danger"
        disabled={busy}
        onClick={() => {
          setBusy(true);
          api.cancelRun(runId, "cancelled from the console").then(
            ({ run }) => {
              setBusy(false);
              setAsking(false);
              if (run) onDone(run);
            },
            (exc: unknown) => {
              setBusy(false);
              setError(exc instanceof Error ? exc.message : String(exc));
            },
          );
        }}
      >
        Yes, cancel it
      </button>
      <button
        type="button"
        onClick={() => {
          setAsking(false);
        }}
      >
        Keep it running
      </button>
      {error ? <span class="form-error">{error}</span> : null}
    </div>
  );
}

/** Who started the run, when not a person: its schedule, or the step of its parent run. */
function Origin({ run }: { run: Run }) {
  if (run.parent?.runId) {
    const { runId, stepId } = run.parent;
    return (
      <p class="origin" data-testid="parent">
        <span aria-hidden="true">↳</span> child run of{" "}
        <a href={withQuery(`/runs/${runId}`, { step: stepId })}>
          run <span class="mono">{runId.slice(0, 12)}…</span>
          {stepId ? (
            <>
              , step <span class="mono">{stepId}</span>
            </>
          ) : null}
        </a>
        {run.parent.item !== undefined ? ` (item ${run.parent.item})` : ""}
        {run.depth && run.depth > 1 ? ` · ${run.depth} levels deep` : ""}
      </p>
    );
  }
  if (run.schedule) {
    return (
      <p class="origin" data-testid="schedule">
        <span aria-hidden="true">◷</span> started by schedule <a href={`/schedules/${encodeURIComponent(run.schedule)}`}>{run.schedule}</a>
      </p>
    );
  }
  return null;
}

export function RunView({ runId, query, canOperate, caller }: { runId: string; query: URLSearchParams; canOperate: boolean; caller: Caller }) {
  const { model, version, status, detail, error, refresh } = useRun(runId);
  const selected = query.get("step") ?? undefined;
  const run = model.run;
  const final = isFinal(model.state);
  const now = useNow(1000, !final);
  useEffect(() => {
    // Two frames: the mark lands once the frame with the run in it has been painted.
    if (run && model.log.length > 0) {
      requestAnimationFrame(() => {
        requestAnimationFrame(() => {
          mark("console:run-painted");
        });
      });
    }
    if (run && model.lastSeq >= model.baseline && model.baseline > 0) mark("console:run-log-complete");
  }, [version, run, model]);
  if (error && !run) {
    return (
      <section>
        <h1 id="page-title" tabIndex={-1}>
          Run <span class="mono">{runId}</span>
        </h1>
        <p class="form-error" role="alert">
          {error}
        </p>
        <p>
          <a href="/runs">All runs</a>
        </p>
      </section>
    );
  }
  const steps = run?.workflow?.steps ?? [];
  const select = (stepId: string): void => {
    navigate(withQuery(`/runs/${runId}`, { step: stepId === selected ? undefined : stepId }), true);
  };
  const look = runLook(model.state);
  const waiting = [...model.steps.values()].filter((s) => s.pendingInput.length > 0);
  const selectedView = selected ? model.steps.get(selected) : undefined;
  const duration = model.start === null ? null : (model.end ?? Math.max(now, Date.now())) - model.start;
  const queued = [...model.steps.values()].filter((s) => s.state === "STEP_STATE_QUEUED");
  return (
    <section class="run-page" aria-labelledby="page-title" data-run={runId} data-version={version}>
      <header class="run-head">
        <div>
          <h1 id="page-title" tabIndex={-1}>
            Run <span class="mono">{runId}</span>
          </h1>
          <p class="run-facts">
            <span class={`badge big tone-${look.tone}`} data-testid="run-state">
              <span aria-hidden="true">{look.glyph}</span> {look.label}
            </span>{" "}
            {run?.workflow?.name ? (
              <a href={withQuery(`/workflows/${encodeURIComponent(run.workflow.name)}`, { version: run.workflow.version })}>
                {run.workflow.name}
                {run.workflow.version ? `@${run.workflow.version}` : ""}
              </a>
            ) : null}
            {run?.principal ? <span> · by {run.principal}</span> : null}
            <span> · started {formatTime(run?.startTime ?? run?.createTime)}</span>
            <span> · {formatDuration(duration)}</span>
          </p>
          {model.wakeTime !== null && (model.state === "RUN_STATE_SLEEPING" || model.state === "RUN_STATE_WAITING_FOR_INPUT") ? (
            <p class={`wake tone-${look.tone}`} data-testid="run-wake">
              <span aria-hidden="true">{look.glyph}</span> {model.state === "RUN_STATE_SLEEPING" ? "wakes" : "a question times out"}{" "}
              {formatWhen(new Date(model.wakeTime).toISOString(), now)}
            </p>
          ) : null}
          {queued.length > 0 ? (
            <p class="wake tone-queue" data-testid="run-queued">
              <span aria-hidden="true">≡</span> queued:{" "}
              {queued
                .slice(0, 3)
                .map((s) => `${s.def.id} waits for ${s.queue ? limitText(s.queue.agent, s.queue.limit) : "its agent's limits"}`)
                .join("; ")}
              {queued.length > 3 ? ` and ${queued.length - 3} more` : ""}
            </p>
          ) : null}
          {run ? <Origin run={run} /> : null}
          <p class="small muted mono">trace id {runId}</p>
        </div>
        <div class="run-actions">{canOperate && run && !final ? <CancelControl runId={runId} onDone={refresh} /> : null}</div>
      </header>
      {run?.error ? (
        <div class="run-error" role="alert">
          <strong>Run failed{run.error.stepId ? ` at ${run.error.stepId}` : ""}:</strong> {run.error.code} {run.error.message}
        </div>
      ) : null}
      {waiting.length > 0 ? (
        <section class="panel waiting" aria-label="questions waiting for an answer">
          <h2>Waiting for input</h2>
          {waiting.flatMap((s) =>
            s.pendingInput.map((request) => (
              <Question
                key={`${request.stepId}-${request.item ?? ""}-${request.turn ?? 0}`}
                runId={runId}
                request={request}
                step={s.def}
                caller={caller}
                onAnswered={refresh}
              />
            )),
          )}
        </section>
      ) : null}
      <UsagePanel usage={model.usage} workflow={run?.workflow} />
      <div class="run-grid">
        <section class="panel graph" aria-label="graph">
          <h2>Graph</h2>
          {steps.length > 0 ? <Dag steps={steps} views={model.steps} selected={selected} onSelect={select} version={version} /> : <p class="muted">Loading…</p>}
        </section>
        <section class="panel details" aria-label="step details">
          {selectedView ? (
            <StepDetails model={model} view={selectedView} caller={caller} now={now} onChanged={refresh} />
          ) : (
            <>
              <h2>Steps</h2>
              <p class="muted">Select a step in the graph or the timeline for its input, output, error and trace.</p>
              <ul class="step-list">
                {[...model.steps.values()].slice(0, 50).map((s) => {
                  const sl = stepLook(s.state);
                  return (
                    <li key={s.def.id}>
                      <button
                        type="button"
                        class="linkish"
                        onClick={() => {
                          select(s.def.id);
                        }}
                      >
                        {s.def.id}
                      </button>{" "}
                      <span class={`badge tone-${sl.tone}`}>
                        <span aria-hidden="true">{sl.glyph}</span> {sl.label}
                      </span>
                      {s.state === "STEP_STATE_SLEEPING" && s.wakeTime !== null ? (
                        <span class="small muted"> wakes {formatTime(new Date(s.wakeTime).toISOString())}</span>
                      ) : null}
                      {s.def.workflow ? (
                        <span class="small">
                          {" "}
                          → <ChildRuns ids={s.childRunIds} />
                        </span>
                      ) : null}
                    </li>
                  );
                })}
              </ul>
              {model.steps.size > 50 ? <p class="muted">…and {model.steps.size - 50} more in the timeline.</p> : null}
              {run?.inputs ? (
                <details>
                  <summary>Run inputs</summary>
                  <JsonBlock value={run.inputs} label="run inputs" />
                </details>
              ) : null}
              {run?.outputs ? (
                <details open>
                  <summary>Run outputs</summary>
                  <JsonBlock value={run.outputs} label="run outputs" />
                </details>
              ) : null}
            </>
          )}
        </section>
        <section class="panel timeline-panel" aria-label="timeline">
          <h2>Timeline</h2>
          <Timeline model={model} version={version} selected={selected} onSelect={select} />
        </section>
      </div>
      <section class="panel" aria-label="events">
        <h2>Events</h2>
        <EventLog model={model} version={version} status={status} statusDetail={detail} selected={selected} />
      </section>
    </section>
  );
}
