// How values read on screen: states as words (never color alone), times and durations.

import type { Json, RunStateName, StepStateName } from "./types";

export type Tone = "ok" | "bad" | "live" | "wait" | "sleep" | "queue" | "idle" | "off";

export interface StateLook {
  label: string;
  tone: Tone;
  /** A glyph that says the same as the color, for those who do not see it. */
  glyph: string;
}

const RUN_STATES: Record<string, StateLook> = {
  RUN_STATE_PENDING: { label: "pending", tone: "idle", glyph: "○" },
  RUN_STATE_RUNNING: { label: "running", tone: "live", glyph: "▶" },
  RUN_STATE_SUCCEEDED: { label: "succeeded", tone: "ok", glyph: "✓" },
  RUN_STATE_FAILED: { label: "failed", tone: "bad", glyph: "✕" },
  RUN_STATE_CANCELLED: { label: "cancelled", tone: "off", glyph: "⊘" },
  RUN_STATE_WAITING_FOR_INPUT: { label: "waiting for input", tone: "wait", glyph: "?" },
  RUN_STATE_SLEEPING: { label: "sleeping", tone: "sleep", glyph: "☾" },
};

const STEP_STATES: Record<string, StateLook> = {
  STEP_STATE_PENDING: { label: "pending", tone: "idle", glyph: "○" },
  STEP_STATE_RUNNING: { label: "running", tone: "live", glyph: "▶" },
  STEP_STATE_SUCCEEDED: { label: "succeeded", tone: "ok", glyph: "✓" },
  STEP_STATE_FAILED: { label: "failed", tone: "bad", glyph: "✕" },
  STEP_STATE_SKIPPED: { label: "skipped", tone: "off", glyph: "↷" },
  STEP_STATE_CANCELLED: { label: "cancelled", tone: "off", glyph: "⊘" },
  STEP_STATE_WAITING_FOR_INPUT: { label: "waiting for input", tone: "wait", glyph: "?" },
  STEP_STATE_SLEEPING: { label: "sleeping", tone: "sleep", glyph: "☾" },
  STEP_STATE_QUEUED: { label: "queued", tone: "queue", glyph: "≡" },
};

const UNKNOWN: StateLook = { label: "pending", tone: "idle", glyph: "○" };

export function runLook(state: RunStateName | undefined): StateLook {
  return (state && RUN_STATES[state]) || UNKNOWN;
}

export function stepLook(state: StepStateName | undefined): StateLook {
  return (state && STEP_STATES[state]) || UNKNOWN;
}

export const RUN_STATE_FILTERS: [string, string][] = [
  ["", "any state"],
  ["RUN_STATE_RUNNING", "running"],
  ["RUN_STATE_WAITING_FOR_INPUT", "waiting for input"],
  ["RUN_STATE_SLEEPING", "sleeping"],
  ["RUN_STATE_PENDING", "pending"],
  ["RUN_STATE_SUCCEEDED", "succeeded"],
  ["RUN_STATE_FAILED", "failed"],
  ["RUN_STATE_CANCELLED", "cancelled"],
];

export function isFinal(state: RunStateName | undefined): boolean {
  return state === "RUN_STATE_SUCCEEDED" || state === "RUN_STATE_FAILED" || state === "RUN_STATE_CANCELLED";
}

export function ms(time: string | undefined): number | null {
  if (!time) return null;
  const value = Date.parse(time);
  return Number.isNaN(value) ? null : value;
}

/** A ProtoJSON Duration ("1.5s") in milliseconds. */
export function durationMs(duration: string | undefined): number {
  if (!duration) return 0;
  const value = Number.parseFloat(duration);
  return Number.isNaN(value) ? 0 : value * 1000;
}

export function formatDuration(millis: number | null): string {
  if (millis === null || millis < 0) return "—";
  if (millis < 1000) return `${Math.round(millis)} ms`;
  const seconds = millis / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} m ${Math.round(seconds % 60)} s`;
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${minutes % 60} m`;
}

export function formatTime(time: string | undefined): string {
  const value = ms(time);
  if (value === null) return "—";
  const date = new Date(value);
  const today = new Date();
  const clock = date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  if (date.toDateString() === today.toDateString()) return clock;
  return `${date.toLocaleDateString(undefined, { month: "short", day: "numeric" })} ${clock}`;
}

export function clockTime(value: number): string {
  const date = new Date(value);
  const base = date.toLocaleTimeString(undefined, { hour12: false, hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return `${base}.${String(date.getMilliseconds()).padStart(3, "0")}`;
}

export function pretty(value: Json | undefined): string {
  if (value === undefined) return "";
  return JSON.stringify(value, null, 2);
}

export function num(value: string | number | undefined): number {
  if (value === undefined) return 0;
  const parsed = typeof value === "number" ? value : Number(value);
  return Number.isFinite(parsed) ? parsed : 0;
}


/** When something happens, said relative to now as well: "12:30:05 (in 4 m 2 s)". */
export function formatWhen(time: string | undefined, now: number): string {
  const value = ms(time);
  if (value === null) return "—";
  const delta = value - now;
  const relative = delta >= 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
  return `${formatTime(time)} (${relative})`;
}

/** A date and time in full, for what may be days away (a schedule's next ticks). */
export function formatDateTime(time: string | undefined): string {
  const value = ms(time);
  if (value === null) return "—";
  return new Date(value).toLocaleString(undefined, { weekday: "short", year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function formatTokens(value: string | number | undefined): string {
  return num(value).toLocaleString("en-US");
}

/** A cost in the unit of the gateway's prices (per million tokens): small numbers keep their digits. */
export function formatCost(value: number | undefined): string {
  const cost = value ?? 0;
  if (cost === 0) return "0";
  if (cost < 0.01) return cost.toPrecision(2);
  return cost.toFixed(cost < 100 ? 4 : 2).replace(/0+$/, "").replace(/\.$/, "");
}
