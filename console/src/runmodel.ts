// A run as the run page shows it, kept from two sources: GetRun's snapshot (authoritative up to
// its last_sequence) and the run's events, replayed from the first and then followed live. The
// events after the snapshot move the steps' states; all of them make the event log and the
// timeline (attempts, retries and their delays, for_each items, waits for input, sleeps, queue
// waits, child runs). Everything is mutated in place and counted by `version`, so a 1,000-step
// run with thousands of events costs one render per animation frame, not one per event.

import { eventKind, stepOf, summary } from "./events";
import { isFinal, ms } from "./format";
import { type Row, TimelineBars } from "./runtimeline";
import { stepKind, type StepKind } from "./stepkind";
import type { EventKind, InputRequest, Json, Run, RunError, RunEvent, RunStateName, Step, StepStateName } from "./types";
import { addModels, totalsOf, type UsageTotals } from "./usage";

/** What a queued step waits for (its last StepQueued event). */
export interface QueueWait {
  agent: string;
  limit: string;
  attempt: number;
  since: number;
}

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
  /** A sub-workflow step's child runs. */
  childRunIds: string[];
  /** A sleeping step: when it wakes. */
  wakeTime: number | null;
  usage: UsageTotals;
  /** While queued: the limit it waits for. */
  queue?: QueueWait | undefined;
}

export type { Outcome, Row, Segment } from "./runtimeline";

export interface LogEntry {
  seq: number;
  time: number;
  kind: EventKind;
  stepId: string;
  item?: number;
  summary: string;
  event: RunEvent;
}

export class RunModel {
  run: Run | null = null;
  state: RunStateName = "RUN_STATE_PENDING";
  /** The snapshot holds every event up to here: later ones move states. */
  baseline = 0;
  steps = new Map<string, StepView>();
  order: string[] = [];
  private bars = new TimelineBars((row) => (this.steps.get(row.stepId)?.index ?? 1e9) * 100_000 + (row.item ?? -1));
  log: LogEntry[] = [];
  lastSeq = 0;
  /** Sequences that never came (a gap in the log): the reader resumes by sequence, so it stays empty. */
  missing: number[] = [];
  sawFinal = false;
  /** What the run's agent calls spent: the snapshot's, plus what later events report. */
  usage: UsageTotals = totalsOf(undefined);
  /** While the run waits or sleeps: when its next timer fires. */
  wakeTime: number | null = null;
  /** The limit each queued step waits for, from every event (not only those after the snapshot). */
  private queues = new Map<string, QueueWait>();
  /** What each step does, known from the first event (RunStarted carries the workflow) on. */
  private kinds = new Map<string, StepKind>();
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
    this.usage = totalsOf(run.usage);
    this.wakeTime = ms(run.wakeTime);
    const runs = new Map((run.steps ?? []).map((step) => [step.stepId, step]));
    const defs = run.workflow?.steps ?? [];
    for (const def of defs) this.kinds.set(def.id, stepKind(def));
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
        childRunIds: [...(s?.childRunIds ?? [])],
        wakeTime: ms(s?.wakeTime),
        usage: totalsOf(s?.usage),
        queue: this.queues.get(def.id),
      });
    });
    // Events already received beyond the snapshot move the states it gave.
    for (const entry of this.log) if (entry.seq > this.baseline) this.advance(entry.kind, entry.event, entry.time);
    this.bars.reorder();
    this.version++;
  }

  get final(): boolean {
    return this.sawFinal || (isFinal(this.state) && this.lastSeq >= this.baseline);
  }

  /** Rows of the timeline in the workflow's order, each step's items after it. */
  get timelineRows(): Row[] {
    return this.bars.ordered;
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
    this.queueWait(kind, event, time, where.stepId);
    if (seq > this.baseline) this.advance(kind, event, time);
    if (kind === "runCompleted" || kind === "runFailed" || kind === "runCancelled") this.sawFinal = true;
    this.version++;
    return true;
  }

  /** Which limit a queued step waits for: set by StepQueued, gone once the call goes (or ends). */
  private queueWait(kind: EventKind, event: RunEvent, time: number, stepId: string): void {
    if (kind === "stepQueued" && event.stepQueued) {
      const e = event.stepQueued;
      const wait: QueueWait = { agent: e.agent ?? "", limit: e.limit ?? "", attempt: e.attempt ?? 1, since: time };
      this.queues.set(stepId, wait);
      const view = this.steps.get(stepId);
      if (view) view.queue = wait;
    } else if (kind === "stepStarted" || kind === "stepCompleted" || kind === "stepFailed") {
      this.queues.delete(stepId);
      const view = this.steps.get(stepId);
      if (view) view.queue = undefined;
    }
  }

  private timeline(kind: EventKind, event: RunEvent, time: number, stepId: string, item: number | undefined): void {
    if (kind === "runStarted") {
      this.start ??= time;
      for (const def of event.runStarted?.run?.workflow?.steps ?? []) this.kinds.set(def.id, stepKind(def));
    } else if (kind === "runCompleted" || kind === "runFailed" || kind === "runCancelled") {
      this.end = time;
      this.bars.closeAll(time, kind === "runCancelled" ? "cancelled" : kind === "runFailed" ? "failed" : "ok");
    } else if (stepId) {
      this.bars.apply(kind, event, time, stepId, item, (this.kinds.get(stepId) ?? "agent") === "agent");
    }
  }

  private advance(kind: EventKind, event: RunEvent, time: number): void {
    const step = (id: string | undefined): StepView | undefined => (id ? this.steps.get(id) : undefined);
    switch (kind) {
      case "runStarted":
      case "runResumed":
        if (!isFinal(this.state)) this.state = "RUN_STATE_RUNNING";
        this.wakeTime = null;
        return;
      case "runWaiting": {
        // Waiting for an answer while a question is open; else only a timer is left: sleeping.
        const asked = [...this.steps.values()].some((s) => s.pendingInput.length > 0);
        this.state = asked ? "RUN_STATE_WAITING_FOR_INPUT" : "RUN_STATE_SLEEPING";
        this.wakeTime = ms(event.runWaiting?.wakeTime);
        return;
      }
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
        this.wakeTime = null;
        for (const s of this.steps.values()) {
          if (
            s.state === "STEP_STATE_RUNNING" ||
            s.state === "STEP_STATE_PENDING" ||
            s.state === "STEP_STATE_WAITING_FOR_INPUT" ||
            s.state === "STEP_STATE_SLEEPING" ||
            s.state === "STEP_STATE_QUEUED"
          ) {
            s.state = "STEP_STATE_CANCELLED";
            s.pendingInput = [];
            s.queue = undefined;
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
        addModels(this.usage, e.models);
        addModels(s.usage, e.models);
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
      case "stepSleeping": {
        const s = step(event.stepSleeping?.stepId);
        if (!s) return;
        s.state = "STEP_STATE_SLEEPING";
        s.wakeTime = ms(event.stepSleeping?.wakeTime);
        s.start ??= time;
        return;
      }
      case "stepQueued": {
        const s = step(event.stepQueued?.stepId);
        if (!s) return;
        s.state = "STEP_STATE_QUEUED";
        s.start ??= time;
        return;
      }
      case "stepChildStarted": {
        const e = event.stepChildStarted;
        const s = step(e?.stepId);
        if (!s || !e) return;
        s.state = "STEP_STATE_RUNNING";
        if (e.childRunId && !s.childRunIds.includes(e.childRunId)) s.childRunIds.push(e.childRunId);
        s.start ??= time;
        return;
      }
      case "stepRemoteTask":
        return;
    }
  }
}
