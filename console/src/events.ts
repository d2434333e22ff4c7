// A run's events in words: each kind's label, a one-line summary of each event for the log, and
// the step (and for_each item) it is about.

import { clockTime, durationMs, ms } from "./format";
import type { EventKind, InputRequest, RunError, RunEvent } from "./types";
import { EVENT_KINDS } from "./types";

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
  stepSleeping: "sleeping",
  stepChildStarted: "child run started",
  stepQueued: "queued",
};

export function questionText(request: InputRequest | undefined): string {
  const parts = request?.question?.parts ?? [];
  return parts.map((part) => part.text ?? "").filter(Boolean).join("\n") || "The agent asks for input.";
}

/** A limit's name as the mesh file spells it, in words. */
export function limitText(agent: string | undefined, limit: string | undefined): string {
  const which = limit === "rate" ? "rate limit" : limit === "max_concurrency" ? "max_concurrency limit" : `${limit ?? ""} limit`.trim();
  return `${agent ?? "the agent"}'s ${which}`;
}

function errorText(error: RunError | undefined): string {
  if (!error) return "";
  return [error.code, error.message].filter(Boolean).join(": ");
}

function clock(time: string | undefined): string {
  const value = ms(time);
  return value === null ? "" : clockTime(value);
}

export function summary(kind: EventKind, event: RunEvent): string {
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
      const took = e?.duration ? ` · ${(durationMs(e.duration) / 1000).toFixed(3)} s` : "";
      const tokens = e?.inputTokens || e?.outputTokens ? ` · ${e.inputTokens ?? 0} in, ${e.outputTokens ?? 0} out tokens` : "";
      return `${e?.attempt ? `attempt ${e.attempt}` : "done"}${took}${tokens}`;
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
      return ids.length ? `a gateway took the run over; again: ${ids.join(", ")}` : "the run goes on";
    }
    case "stepInputRequired":
      return questionText(event.stepInputRequired?.request);
    case "stepInputProvided": {
      const e = event.stepInputProvided;
      if (e?.timedOut) return `turn ${e.turn ?? 0}: no answer in time, the default answer taken`;
      return `turn ${e?.turn ?? 0} answered${e?.principal ? ` by ${e.principal}` : ""}`;
    }
    case "runWaiting": {
      const wake = clock(event.runWaiting?.wakeTime);
      return `waiting on ${(event.runWaiting?.stepIds ?? []).join(", ")}${wake ? ` · next timer ${wake}` : ""}`;
    }
    case "stepRemoteTask":
      return `task ${event.stepRemoteTask?.taskId ?? ""} (turn ${event.stepRemoteTask?.turn ?? 0})`;
    case "stepSleeping":
      return `until ${clock(event.stepSleeping?.wakeTime) || "—"}`;
    case "stepChildStarted": {
      const e = event.stepChildStarted;
      const version = e?.workflowVersion ? `@${e.workflowVersion}` : "";
      return `run ${e?.childRunId ?? ""} of ${e?.workflowName ?? ""}${version}`;
    }
    case "stepQueued": {
      const e = event.stepQueued;
      return `attempt ${e?.attempt ?? 1} waits for ${limitText(e?.agent, e?.limit)}`;
    }
  }
}

export function stepOf(kind: EventKind, event: RunEvent): { stepId: string; item?: number } {
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
