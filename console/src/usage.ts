// What a run's (or a step's) agent calls spent: tokens in and out and their cost, by model. A
// snapshot's Usage to start from, then each StepCompleted's models added as the gateway adds them.

import { num } from "./format";
import type { ModelUsage, Usage } from "./types";

export interface Spent {
  input: number;
  output: number;
  cost: number;
}

export interface UsageTotals extends Spent {
  /** By model name ("" for replies that did not say). */
  models: Map<string, Spent>;
}

export function totalsOf(usage: Usage | undefined): UsageTotals {
  const totals: UsageTotals = { input: num(usage?.inputTokens), output: num(usage?.outputTokens), cost: usage?.cost ?? 0, models: new Map() };
  for (const model of usage?.models ?? []) {
    totals.models.set(model.model ?? "", { input: num(model.inputTokens), output: num(model.outputTokens), cost: model.cost ?? 0 });
  }
  return totals;
}

/** Adds what one call spent, by model, as the gateway does (pricing.add_usage). */
export function addModels(totals: UsageTotals, models: ModelUsage[] | undefined): void {
  for (const model of models ?? []) {
    const input = num(model.inputTokens);
    const output = num(model.outputTokens);
    const cost = model.cost ?? 0;
    totals.input += input;
    totals.output += output;
    totals.cost += cost;
    const name = model.model ?? "";
    const kept = totals.models.get(name);
    if (kept) {
      kept.input += input;
      kept.output += output;
      kept.cost += cost;
    } else {
      totals.models.set(name, { input, output, cost });
    }
  }
}

export function spentAnything(totals: UsageTotals): boolean {
  return totals.input > 0 || totals.output > 0 || totals.cost > 0;
}
