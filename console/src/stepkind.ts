// What a step does, in a few words: call an agent's skill, ask a person, sleep, or run another
// workflow as a child run. The graph's nodes and the step details say it.

import type { Step } from "./types";

export type StepKind = "agent" | "ask" | "sleep" | "workflow";

export function stepKind(step: Step): StepKind {
  if (step.ask) return "ask";
  if (step.sleep || step.until) return "sleep";
  if (step.workflow) return "workflow";
  return "agent";
}

/** The glyph of each kind, said in words next to it wherever it shows. */
export const KIND_GLYPHS: Record<StepKind, string> = {
  agent: "◇",
  ask: "✎",
  sleep: "☾",
  workflow: "▣",
};

/** One short line: "probe · echo", "asks for approval", "sleeps 10m", "runs research@1". */
export function stepDoes(step: Step): string {
  switch (stepKind(step)) {
    case "ask":
      return step.ask?.approval ? "asks for approval" : "asks a person";
    case "sleep":
      return step.sleep ? `sleeps ${step.sleep}` : `sleeps until ${step.until ?? ""}`;
    case "workflow":
      return `runs ${step.workflow ?? ""}`;
    case "agent":
      return `${step.agent ?? ""}${step.skill ? ` · ${step.skill}` : ""}`;
  }
}

/** Who may answer an ask step's question (or any question, given its role and principals). */
export function answeredBy(role: string | undefined, principals: string[] | undefined): string {
  if (principals && principals.length > 0) return principals.join(", ");
  const named = role ?? "";
  return named === "" || named === "operator" ? "an operator (or admin)" : named === "viewer" ? "anyone signed in" : `an ${named}`;
}
