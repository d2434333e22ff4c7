// Metrics: runs by outcome over time, throughput, per-agent latency, from the samples this
// browser takes of /v1/metrics:watch while the console is open.

import { Chart, type Series } from "../chart";
import { num } from "../format";
import { metricsStatus, useMetrics } from "../metrics";
import { useStore } from "../store";
import { agentSeries } from "./agents";

const PALETTE = ["#5aa9ff", "#f5b94a", "#7bd88f", "#ff6b6b", "#c792ea", "#4fd1c5", "#f78c6c", "#a3be8c"];
const DASHES: number[][] = [[], [6, 3], [2, 3], [8, 3, 2, 3]];

export function MetricsView() {
  const samples = useMetrics();
  const status = useStore(metricsStatus);
  const last = samples[samples.length - 1]?.metrics;
  const xs = samples.map((s) => s.t);
  const column = (pick: (m: (typeof samples)[number]["metrics"]) => string | undefined): number[] => samples.map((s) => num(pick(s.metrics)));
  const outcomes = [
    xs,
    column((m) => m.workflowsSucceeded),
    column((m) => m.workflowsFailed),
    column((m) => m.workflowsCancelled),
    column((m) => m.workflowsRunning),
  ];
  const throughput = [
    xs,
    samples.map((sample, i) => {
      const before = samples[i - 1];
      if (!before) return null;
      const seconds = sample.t - before.t;
      return seconds > 0 ? ((num(sample.metrics.workflowsExecuted) - num(before.metrics.workflowsExecuted)) / seconds) * 60 : null;
    }),
  ];
  const agents = [...new Set(samples.flatMap((s) => (s.metrics.agents ?? []).map((a) => a.agent)))].sort();
  const agentSeriesList: Series[] = agents.map((agent, i) => ({
    label: agent,
    color: PALETTE[i % PALETTE.length] ?? "#5aa9ff",
    dash: DASHES[Math.floor(i / PALETTE.length) % DASHES.length] ?? [],
    unit: " ms",
  }));
  const latency = [xs, ...agents.map((agent) => agentSeries(samples, agent, (m) => m?.p95Ms ?? null))];
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1}>
        Metrics
      </h1>
      <p class="small muted" aria-live="polite">
        Sampled every 2 s in this browser while the console is open ({samples.length} samples; stream {status}).
      </p>
      <dl class="numbers big" data-testid="metrics-summary">
        <div>
          <dt>runs finished</dt>
          <dd>{num(last?.workflowsExecuted)}</dd>
        </div>
        <div>
          <dt>succeeded</dt>
          <dd>{num(last?.workflowsSucceeded)}</dd>
        </div>
        <div>
          <dt>failed</dt>
          <dd>{num(last?.workflowsFailed)}</dd>
        </div>
        <div>
          <dt>cancelled</dt>
          <dd>{num(last?.workflowsCancelled)}</dd>
        </div>
        <div>
          <dt>running</dt>
          <dd>{num(last?.workflowsRunning)}</dd>
        </div>
        <div>
          <dt>success rate</dt>
          <dd>{((last?.successRate ?? 0) * 100).toFixed(1)}%</dd>
        </div>
      </dl>
      <div class="charts">
        <Chart
          title="Runs by outcome (totals)"
          series={[
            { label: "succeeded", color: "#7bd88f" },
            { label: "failed", color: "#ff6b6b", dash: [6, 3] },
            { label: "cancelled", color: "#8b93a7", dash: [2, 3] },
            { label: "running", color: "#5aa9ff", dash: [8, 3, 2, 3] },
          ]}
          data={outcomes}
        />
        <Chart title="Throughput (runs finished per minute)" series={[{ label: "runs/min", color: "#f5b94a" }]} data={throughput} />
        {agents.length > 0 ? <Chart title="Agent latency, p95 (ms)" series={agentSeriesList} data={latency} /> : null}
      </div>
      <section class="panel">
        <h2>Agents</h2>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">Calls</th>
                <th scope="col">Success</th>
                <th scope="col">avg</th>
                <th scope="col">p50</th>
                <th scope="col">p95</th>
                <th scope="col">p99</th>
                <th scope="col">Tokens</th>
              </tr>
            </thead>
            <tbody>
              {(last?.agents ?? []).map((a) => (
                <tr key={a.agent}>
                  <td data-label="Agent">
                    <a href={`/agents/${encodeURIComponent(a.agent)}`}>{a.agent}</a>
                  </td>
                  <td data-label="Calls">{num(a.executions)}</td>
                  <td data-label="Success">{((a.successRate ?? 0) * 100).toFixed(1)}%</td>
                  <td data-label="avg">{(a.averageMs ?? 0).toFixed(1)} ms</td>
                  <td data-label="p50">{(a.p50Ms ?? 0).toFixed(1)} ms</td>
                  <td data-label="p95">{(a.p95Ms ?? 0).toFixed(1)} ms</td>
                  <td data-label="p99">{(a.p99Ms ?? 0).toFixed(1)} ms</td>
                  <td data-label="Tokens">{num(a.tokensUsed)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </section>
  );
}
