// What a run's agent calls spent, tokens in and out and their cost, by model, and how much of
// its workflow's budget that is.

import { formatCost, formatTokens, num } from "../format";
import type { Workflow } from "../types";
import { spentAnything, type UsageTotals } from "../usage";

function Share({ label, used, limit, show }: { label: string; used: number; limit: number; show: (value: number) => string }) {
  const percent = limit > 0 ? Math.min(100, (used / limit) * 100) : 0;
  return (
    <div class="budget-line">
      <span>
        {label}: {show(used)} of {show(limit)} ({percent < 1 && used > 0 ? "<1" : Math.round(percent)}%)
      </span>
      <meter min={0} max={limit} low={limit * 0.75} high={limit * 0.9} optimum={0} value={Math.min(used, limit)} aria-label={`${label} used`} />
    </div>
  );
}

export function UsagePanel({ usage, workflow }: { usage: UsageTotals; workflow: Workflow | undefined }) {
  const budget = workflow?.budget;
  const tokenBudget = num(budget?.tokens);
  const costBudget = budget?.cost ?? 0;
  const budgeted = tokenBudget > 0 || costBudget > 0;
  if (!spentAnything(usage) && !budgeted) return null;
  const models = [...usage.models.entries()].sort((a, b) => b[1].input + b[1].output - (a[1].input + a[1].output));
  return (
    <section class="panel usage" aria-labelledby="usage-title" data-testid="usage">
      <h2 id="usage-title">Usage</h2>
      <div class="usage-grid">
        <dl class="numbers">
          <div>
            <dt>tokens in</dt>
            <dd data-testid="usage-in">{formatTokens(usage.input)}</dd>
          </div>
          <div>
            <dt>tokens out</dt>
            <dd data-testid="usage-out">{formatTokens(usage.output)}</dd>
          </div>
          <div>
            <dt>cost</dt>
            <dd data-testid="usage-cost">{formatCost(usage.cost)}</dd>
          </div>
        </dl>
        {budgeted ? (
          <div class="budget" data-testid="budget">
            <strong>Budget</strong>
            {tokenBudget > 0 ? <Share label="tokens" used={usage.input + usage.output} limit={tokenBudget} show={formatTokens} /> : null}
            {costBudget > 0 ? <Share label="cost" used={usage.cost} limit={costBudget} show={formatCost} /> : null}
          </div>
        ) : null}
      </div>
      {models.length > 0 ? (
        <details>
          <summary>By model ({models.length})</summary>
          <div class="table-wrap">
            <table class="models">
              <thead>
                <tr>
                  <th scope="col">Model</th>
                  <th scope="col">Tokens in</th>
                  <th scope="col">Tokens out</th>
                  <th scope="col">Cost</th>
                </tr>
              </thead>
              <tbody>
                {models.map(([name, spent]) => (
                  <tr key={name}>
                    <td data-label="Model" class={name ? "mono" : "muted"}>
                      {name || "not named by the agent"}
                    </td>
                    <td data-label="Tokens in">{formatTokens(spent.input)}</td>
                    <td data-label="Tokens out">{formatTokens(spent.output)}</td>
                    <td data-label="Cost">{formatCost(spent.cost)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      ) : null}
    </section>
  );
}
