// The bars of a run's timeline (a Gantt chart), built from its events: a row per step and per
// for_each item, a segment per attempt, retry delay, wait for an answer, sleep, wait in an agent's
// queue and child run.

import type { EventKind, RunEvent } from "./types";

export type Outcome = "running" | "ok" | "failed" | "retried" | "asked" | "cancelled" | "waiting" | "skipped";

export interface Segment {
  kind: "attempt" | "retry" | "input" | "skip" | "sleep" | "queue" | "child";
  attempt: number;
  start: number;
  /** null while it lasts. */
  end: number | null;
  outcome: Outcome;
  /** What it waits for (a queue wait's limit). */
  note?: string;
}

export interface Row {
  key: string;
  stepId: string;
  item?: number;
  segments: Segment[];
}

export class TimelineBars {
  private rows = new Map<string, Row>();
  private sortedRows: Row[] | null = null;

  constructor(private readonly rank: (row: Row) => number) {}

  /** The rows in the workflow's order, each step's items after it. */
  get ordered(): Row[] {
    if (this.sortedRows === null) this.sortedRows = [...this.rows.values()].sort((a, b) => this.rank(a) - this.rank(b));
    return this.sortedRows;
  }

  /** The steps' order may have changed (a snapshot came). */
  reorder(): void {
    this.sortedRows = null;
  }

  /** The run ended: whatever lasts ends with it. */
  closeAll(time: number, outcome: Outcome): void {
    for (const row of this.rows.values()) this.close(row, time, outcome);
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

  /** One step event; `callsAgent`: the step calls an agent (an answer to its question calls it again). */
  apply(kind: EventKind, event: RunEvent, time: number, stepId: string, item: number | undefined, callsAgent: boolean): void {
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
        // An agent's question: its agent is called again. An ask step is done with the answer.
        if (callsAgent) row.segments.push({ kind: "attempt", attempt, start: time, end: null, outcome: "running" });
        return;
      }
      case "stepSleeping": {
        const row = this.row(stepId, item);
        this.close(row, time, "ok");
        row.segments.push({ kind: "sleep", attempt: 0, start: time, end: null, outcome: "waiting" });
        return;
      }
      case "stepQueued": {
        const e = event.stepQueued;
        const row = this.row(stepId, item);
        this.close(row, time, "ok");
        row.segments.push({ kind: "queue", attempt: e?.attempt ?? 1, start: time, end: null, outcome: "waiting", note: e?.limit ?? "" });
        return;
      }
      case "stepChildStarted": {
        const row = this.row(stepId, item);
        this.close(row, time, "ok");
        row.segments.push({ kind: "child", attempt: 1, start: time, end: null, outcome: "running" });
        if (item !== undefined) {
          const parent = this.row(stepId);
          if (!this.open(parent)) parent.segments.push({ kind: "child", attempt: 1, start: time, end: null, outcome: "running" });
        }
        return;
      }
      default:
        return;
    }
  }
}
