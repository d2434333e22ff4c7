// A run as the run page shows it, kept from two sources: GetRun's snapshot (authoritative up to
// its last_sequence) and the run's events, replayed from the first and then followed live. The
// events after the snapshot move the steps' states; all of them make the event log and the
// timeline (attempts, retries and their delays, for_each items, waits for input). Everything is
// mutated in place and counted by `version`, so a 1,000-step run with thousands of events costs
// one render per animation frame, not one per event.

import { durationMs, isFinal, ms } from "./format";
import type { EventKind, InputRequest, Json, Run, RunError, RunEvent, RunStateName, Step, StepStateName } from "./types";
import { EVENT_KINDS } from "./types";

export interface StepView {
  def: Step;
  index: number;
  state: StepStateName;
  attempts: number;
  itemsTotal: number;
  itemsDone: number;
  output?: Json;
  text: string;
  error?: RunError;
  start: number | null;
  end: number | null;
  pendingInput: InputRequest[];
}

export type Outcome = "running" | "ok" | "failed" | "retried" | "asked" | "cancelled" | "waiting" | "skipped";

export interface Segment {
  kind: "attempt" | "retry" | "input" | "skip";
  attempt: number;
  start: number;
  /** null while it lasts. */
  end: number | null;
  outcome: Outcome;
}

export interface Row {
  key: string;
  stepId: string;
  item?: number;
  segments: Segment[];
}

export interface LogEntry {
  seq: number;
  time: number;
  kind: EventKind;
  stepId: string;
  item?: number;
  summary: string;
  event: RunEvent;
}

export function eventKind(event: RunEvent): EventKind | null {
  for (const kind of EVENT_KINDS) if (event[kind] !== undefined) return kind;
  return null;
}

export const KIND_LABELS: Record<EventKind, string> = {
  runStarted: "run started",
  stepStarted: "step started",
  stepOutputChunk: "output",
  stepRetrying: "retrying",
  stepCompleted: "step completed",
  stepFailed: "step failed",
  stepSkipped: "step skipped",
  runCompleted: "run completed",
  runFailed: "run failed",
  runCancelled: "run cancelled",
  runResumed: "run resumed",
  stepInputRequired: "input required",
  stepInputProvided: "input provided",
  runWaiting: "run waiting",
  stepRemoteTask: "remote task",
};

export function questionText(request: InputRequest | undefined): string {
  const parts = request?.question?.parts ?? [];
  return parts.map((part) => part.text ?? "").filter(Boolean).join("\n") || "The agent asks for input.";
}

function errorText(error: RunError | undefined): string {
  if (!error) return "";
  return [error.code, error.message].filter(Boolean).join(": ");
}

function summary(kind: EventKind, event: RunEvent): string {
  switch (kind) {
    case "runStarted":
      return `workflow ${event.runStarted?.run?.workflow?.name ?? ""}`.trim();
    case "stepStarted": {
      const e = event.stepStarted;
      const items = e?.itemsTotal && e.item === undefined ? ` · ${e.itemsTotal} items` : "";
      return `attempt ${e?.attempt ?? 1}${e?.address ? ` on ${e.address}` : ""}${items}`;
    }
    case "stepOutputChunk":
      return (event.stepOutputChunk?.text ?? "").replace(/\s+/g, " ").slice(0, 160);
    case "stepRetrying": {
      const e = event.stepRetrying;
      return `attempt ${e?.attempt ?? 1} failed (${errorText(e?.error)}); next in ${(durationMs(e?.delay) / 1000).toFixed(2)} s`;
    }
    case "stepCompleted": {
      const e = event.stepCompleted;
      return `attempt ${e?.attempt ?? 1} · ${(durationMs(e?.duration) / 1000).toFixed(3)} s`;
    }
    case "stepFailed": {
      const e = event.stepFailed;
      return `${errorText(e?.error)}${e?.continued ? " (the run continues)" : ""}`;
    }
    case "stepSkipped":
      return event.stepSkipped?.reason ?? "";
    case "runCompleted":
      return `in ${(durationMs(event.runCompleted?.duration) / 1000).toFixed(2)} s`;
    case "runFailed":
      return errorText(event.runFailed?.error);
    case "runCancelled":
      return event.runCancelled?.reason ?? "";
    case "runResumed": {
      const ids = event.runResumed?.redispatchedStepIds ?? [];
      return ids.length ? `a gateway took the run over; again: ${ids.join(", ")}` : "a gateway took the run over";
    }
    case "stepInputRequired":
      return questionText(event.stepInputRequired?.request);
    case "stepInputProvided": {
      const who = event.stepInputProvided?.principal;
      return `turn ${event.stepInputProvided?.turn ?? 0} answered${who ? ` by ${who}` : ""}`;
    }
    case "runWaiting":
      return `waiting on ${(event.runWaiting?.stepIds ?? []).join(", ")}`;
    case "stepRemoteTask":
      return `task ${event.stepRemoteTask?.taskId ?? ""} (turn ${event.stepRemoteTask?.turn ?? 0})`;
  }
}

function stepOf(kind: EventKind, event: RunEvent): { stepId: string; item?: number } {
  switch (kind) {
    case "stepInputRequired":
      return { stepId: event.stepInputRequired?.request?.stepId ?? "", item: event.stepInputRequired?.request?.item };
    case "runStarted":
    case "runCompleted":
    case "runFailed":
    case "runCancelled":
    case "runResumed":
    case "runWaiting":
      return { stepId: "" };
    default: {
      const body = event[kind] as { stepId?: string; item?: number } | undefined;
      return { stepId: body?.stepId ?? "", item: body?.item };
    }
  }
}

export class RunModel {
  run: Run | null = null;
  state: RunStateName = "RUN_STATE_PENDING";
  /** The snapshot holds every event up to here: later ones move states. */
  baseline = 0;
  steps = new Map<string, StepView>();
  order: string[] = [];
  rows = new Map<string, Row>();
  private sortedRows: Row[] | null = null;
  log: LogEntry[] = [];
  lastSeq = 0;
  /** Sequences that never came (a gap in the log): the reader resumes by sequence, so it stays empty. */
  missing: number[] = [];
  sawFinal = false;
  /** Tokens each step's calls reported, [input, output]. */
  tokens = new Map<string, [number, number]>();
  start: number | null = null;
  end: number | null = null;
  version = 0;

  constructor(readonly runId: string) {}

  applySnapshot(run: Run): void {
    this.run = run;
    this.state = run.state ?? "RUN_STATE_PENDING";
    this.baseline = Number(run.lastSequence ?? "0");
    this.start = ms(run.startTime) ?? ms(run.createTime);
    this.end = ms(run.endTime);
    const runs = new Map((run.steps ?? []).map((step) => [step.stepId, step]));
    const defs = run.workflow?.steps ?? [];
    this.order = defs.map((def) => def.id);
    this.steps = new Map();
    defs.forEach((def, index) => {
      const s = runs.get(def.id);
      this.steps.set(def.id, {
        def,
        index,
        state: s?.state ?? "STEP_STATE_PENDING",
        attempts: s?.attempts ?? 0,
        itemsTotal: s?.itemsTotal ?? 0,
        itemsDone: s?.itemsDone ?? 0,
        output: s?.output,
        text: s?.text ?? "",
        error: s?.error,
        start: ms(s?.startTime),
        end: ms(s?.endTime),
        pendingInput: s?.pendingInput ?? [],
      });
    });
    // Events already received beyond the snapshot move the states it gave.
    for (const entry of this.log) if (entry.seq > this.baseline) this.advance(entry.kind, entry.event, entry.time);
    this.sortedRows = null;
    this.version++;
  }

  get final(): boolean {
    return this.sawFinal || (isFinal(this.state) && this.lastSeq >= this.baseline);
  }

  /** Rows of the timeline in the workflow's order, each step's items after it. */
  get timelineRows(): Row[] {
    if (this.sortedRows === null) {
      const rank = (row: Row): number => (this.steps.get(row.stepId)?.index ?? 1e9) * 100_000 + (row.item ?? -1);
      this.sortedRows = [...this.rows.values()].sort((a, b) => rank(a) - rank(b));
    }
    return this.sortedRows;
  }

  private row(stepId: string, item?: number): Row {
    const key = item === undefined ? stepId : `${stepId}#${item}`;
    let row = this.rows.get(key);
    if (!row) {
      row = { key, stepId, item, segments: [] };
      this.rows.set(key, row);
      this.sortedRows = null;
    }
    return row;
  }

  private open(row: Row): Segment | undefined {
    const last = row.segments[row.segments.length - 1];
    return last && last.end === null ? last : undefined;
  }

  private close(row: Row, time: number, outcome: Outcome): void {
    const open = this.open(row);
    if (open) {
      open.end = time;
      open.outcome = outcome;
    }
  }

  /** Apply one event; false when it was seen already (a replay after a reconnect never is). */
  applyEvent(event: RunEvent): boolean {
    const seq = Number(event.sequence);
    if (!Number.isFinite(seq) || seq <= this.lastSeq) return false;
    for (let missing = this.lastSeq + 1; missing < seq; missing++) this.missing.push(missing);
    this.lastSeq = seq;
    const kind = eventKind(event);
    if (kind === null) return true;
    const time = ms(event.eventTime) ?? Date.now();
    const where = stepOf(kind, event);
    this.log.push({ seq, time, kind, stepId: where.stepId, item: where.item, summary: summary(kind, event), event });
    this.timeline(kind, event, time, where.stepId, where.item);
    if (kind === "stepCompleted" && event.stepCompleted) {
      const used = this.tokens.get(where.stepId) ?? [0, 0];
      used[0] += Number(event.stepCompleted.inputTokens ?? 0);
      used[1] += Number(event.stepCompleted.outputTokens ?? 0);
      this.tokens.set(where.stepId, used);
    }
    if (seq > this.baseline) this.advance(kind, event, time);
    if (kind === "runCompleted" || kind === "runFailed" || kind === "runCancelled") this.sawFinal = true;
    this.version++;
    return true;
  }

  private timeline(kind: EventKind, event: RunEvent, time: number, stepId: string, item: number | undefined): void {
    if (kind === "runStarted") {
      this.start ??= time;
      return;
    }
    if (kind === "runCompleted" || kind === "runFailed" || kind === "runCancelled") {
      this.end = time;
      const outcome: Outcome = kind === "runCancelled" ? "cancelled" : kind === "runFailed" ? "failed" : "ok";
      for (const row of this.rows.values()) this.close(row, time, outcome === "ok" ? "ok" : outcome);
      return;
    }
    if (!stepId) return;
    switch (kind) {
      case "stepStarted": {
        const e = event.stepStarted;
        const row = this.row(stepId, item);
        const attempt = e?.attempt ?? 1;
        const open = this.open(row);
        if (open?.kind === "attempt" && open.attempt === attempt) return; // a resumed call, still the same attempt
        this.close(row, time, open?.kind === "attempt" ? "retried" : open?.kind === "input" ? "ok" : "ok");
        row.segments.push({ kind: "attempt", attempt, start: time, end: null, outcome: "running" });
        if (item !== undefined) {
          const parent = this.row(stepId);
          if (!this.open(parent)) parent.segments.push({ kind: "attempt", attempt: 1, start: time, end: null, outcome: "running" });
        }
        return;
      }
      case "stepRetrying": {
        const e = event.stepRetrying;
        const row = this.row(stepId, item);
        this.close(row, time, "retried");
        row.segments.push({ kind: "retry", attempt: e?.attempt ?? 1, start: time, end: null, outcome: "waiting" });
        return;
      }
      case "stepCompleted":
        this.close(this.row(stepId, item), time, "ok");
        return;
      case "stepFailed":
        this.close(this.row(stepId, item), time, "failed");
        if (item !== undefined) this.close(this.row(stepId), time, "failed");
        return;
      case "stepSkipped":
        this.row(stepId).segments.push({ kind: "skip", attempt: 0, start: time, end: time, outcome: "skipped" });
        return;
      case "stepInputRequired": {
        const row = this.row(stepId, item);
        const attempt = event.stepInputRequired?.request?.attempt ?? 1;
        this.close(row, time, "asked");
        row.segments.push({ kind: "input", attempt, start: time, end: null, outcome: "waiting" });
        return;
      }
      case "stepInputProvided": {
        const row = this.row(stepId, item);
        const attempt = event.stepInputProvided?.attempt ?? 1;
        this.close(row, time, "ok");
        row.segments.push({ kind: "attempt", attempt, start: time, end: null, outcome: "running" });
        return;
      }
      default:
        return;
    }
  }

  private advance(kind: EventKind, event: RunEvent, time: number): void {
    const step = (id: string | undefined): StepView | undefined => (id ? this.steps.get(id) : undefined);
    switch (kind) {
      case "runStarted":
      case "runResumed":
        if (!isFinal(this.state)) this.state = "RUN_STATE_RUNNING";
        return;
      case "runWaiting":
        this.state = "RUN_STATE_WAITING_FOR_INPUT";
        return;
      case "runCompleted":
        this.state = "RUN_STATE_SUCCEEDED";
        if (this.run && event.runCompleted?.outputs) this.run.outputs = event.runCompleted.outputs;
        return;
      case "runFailed":
        this.state = "RUN_STATE_FAILED";
        if (this.run && event.runFailed?.error) this.run.error = event.runFailed.error;
        return;
      case "runCancelled":
        this.state = "RUN_STATE_CANCELLED";
        for (const s of this.steps.values()) {
          if (s.state === "STEP_STATE_RUNNING" || s.state === "STEP_STATE_PENDING" || s.state === "STEP_STATE_WAITING_FOR_INPUT") {
            s.state = "STEP_STATE_CANCELLED";
            s.pendingInput = [];
          }
        }
        return;
      case "stepStarted": {
        const e = event.stepStarted;
        const s = step(e?.stepId);
        if (!s || !e) return;
        s.state = "STEP_STATE_RUNNING";
        s.attempts = Math.max(s.attempts, e.attempt ?? 1);
        if (e.itemsTotal) s.itemsTotal = e.itemsTotal;
        s.start ??= time;
        return;
      }
      case "stepRetrying": {
        const s = step(event.stepRetrying?.stepId);
        if (s) s.error = event.stepRetrying?.error;
        return;
      }
      case "stepCompleted": {
        const e = event.stepCompleted;
        const s = step(e?.stepId);
        if (!s || !e) return;
        if (e.item !== undefined) {
          s.itemsDone++;
          return;
        }
        s.state = "STEP_STATE_SUCCEEDED";
        s.output = e.output;
        s.text = e.text ?? s.text;
        s.error = undefined;
        s.end = time;
        return;
      }
      case "stepFailed": {
        const s = step(event.stepFailed?.stepId);
        if (!s) return;
        s.state = "STEP_STATE_FAILED";
        s.error = event.stepFailed?.error;
        s.end = time;
        return;
      }
      case "stepSkipped": {
        const s = step(event.stepSkipped?.stepId);
        if (!s) return;
        s.state = "STEP_STATE_SKIPPED";
        s.end = time;
        return;
      }
      case "stepOutputChunk": {
        const s = step(event.stepOutputChunk?.stepId);
        if (s && event.stepOutputChunk?.item === undefined) s.text += event.stepOutputChunk?.text ?? "";
        return;
      }
      case "stepInputRequired": {
        const request = event.stepInputRequired?.request;
        const s = step(request?.stepId);
        if (!s || !request) return;
        s.pendingInput = [...s.pendingInput.filter((r) => r.item !== request.item), request];
        s.state = "STEP_STATE_WAITING_FOR_INPUT";
        return;
      }
      case "stepInputProvided": {
        const e = event.stepInputProvided;
        const s = step(e?.stepId);
        if (!s || !e) return;
        s.pendingInput = s.pendingInput.filter((r) => r.item !== e.item);
        if (s.pendingInput.length === 0) s.state = "STEP_STATE_RUNNING";
        if (this.state === "RUN_STATE_WAITING_FOR_INPUT") this.state = "RUN_STATE_RUNNING";
        return;
      }
      case "stepRemoteTask":
        return;
    }
  }
}
