// Agents: replicas and their health (refreshed every three seconds), skills with their
// schemas and examples, and from the metrics sampled in this browser: latency percentiles,
// error rate and tokens over time.

import { api } from "../api";
import { Chart } from "../chart";
import { num, pretty } from "../format";
import { usePolled } from "../hooks";
import { useMetrics, type Sample } from "../metrics";
import type { AgentMetrics, AgentStatus, ReplicaHealth } from "../types";

const HEALTH: Record<ReplicaHealth, { label: string; tone: string; glyph: string }> = {
  REPLICA_HEALTH_UNSPECIFIED: { label: "unknown", tone: "idle", glyph: "○" },
  REPLICA_HEALTH_SERVING: { label: "serving", tone: "ok", glyph: "✓" },
  REPLICA_HEALTH_NOT_SERVING: { label: "not serving", tone: "bad", glyph: "✕" },
  REPLICA_HEALTH_UNKNOWN: { label: "unknown", tone: "idle", glyph: "○" },
};

function Health({ health }: { health: ReplicaHealth | undefined }) {
  const look = HEALTH[health ?? "REPLICA_HEALTH_UNKNOWN"];
  return (
    <span class={`badge tone-${look.tone}`}>
      <span aria-hidden="true">{look.glyph}</span> {look.label}
    </span>
  );
}

export function agentSeries(samples: Sample[], agent: string, pick: (m: AgentMetrics | undefined, prev: AgentMetrics | undefined) => number | null): (number | null)[] {
  let previous: AgentMetrics | undefined;
  return samples.map((sample) => {
    const current = sample.metrics.agents?.find((a) => a.agent === agent);
    const value = pick(current, previous);
    previous = current;
    return value;
  });
}

/** Failures over calls made since the previous sample (null when none were made). */
export function errorRate(current: AgentMetrics | undefined, previous: AgentMetrics | undefined): number | null {
  if (!current) return null;
  const calls = num(current.executions) - num(previous?.executions);
  if (!previous || calls <= 0) return null;
  return ((num(current.failures) - num(previous.failures)) / calls) * 100;
}

function latest(samples: Sample[], agent: string): AgentMetrics | undefined {
  return samples[samples.length - 1]?.metrics.agents?.find((a) => a.agent === agent);
}

function Numbers({ metrics }: { metrics: AgentMetrics | undefined }) {
  if (!metrics) return <p class="muted">No calls yet.</p>;
  return (
    <dl class="numbers">
      <div>
        <dt>calls</dt>
        <dd>{num(metrics.executions)}</dd>
      </div>
      <div>
        <dt>success</dt>
        <dd>{((metrics.successRate ?? 0) * 100).toFixed(1)}%</dd>
      </div>
      <div>
        <dt>p50</dt>
        <dd>{(metrics.p50Ms ?? 0).toFixed(1)} ms</dd>
      </div>
      <div>
        <dt>p95</dt>
        <dd>{(metrics.p95Ms ?? 0).toFixed(1)} ms</dd>
      </div>
      <div>
        <dt>p99</dt>
        <dd>{(metrics.p99Ms ?? 0).toFixed(1)} ms</dd>
      </div>
      <div>
        <dt>tokens</dt>
        <dd>{num(metrics.tokensUsed)}</dd>
      </div>
    </dl>
  );
}

export function AgentsView() {
  const agents = usePolled(() => api.listAgents(), "agents", 3000);
  const samples = useMetrics();
  const list = agents.data?.agents ?? [];
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1}>
        Agents
      </h1>
      {agents.error ? (
        <p class="form-error" role="alert">
          {agents.error}
        </p>
      ) : null}
      <div class="cards">
        {list.map((agent) => (
          <article key={agent.name} class="card panel" data-agent={agent.name}>
            <h2>
              <a href={`/agents/${encodeURIComponent(agent.name)}`}>{agent.name}</a>
            </h2>
            <p class="muted">{agent.card?.description ?? "no card yet"}</p>
            <ul class="replicas" aria-label={`replicas of ${agent.name}`}>
              {(agent.replicas ?? []).map((replica) => (
                <li key={replica.address}>
                  <span class="mono">{replica.address}</span> <Health health={replica.health} />
                </li>
              ))}
            </ul>
            <p class="small">
              {(agent.card?.skills ?? []).length} skills: {(agent.card?.skills ?? []).map((s) => s.id).join(", ")}
            </p>
            <Numbers metrics={latest(samples, agent.name)} />
          </article>
        ))}
      </div>
      {!agents.loading && list.length === 0 ? <p class="muted">The gateway has no agents configured.</p> : null}
    </section>
  );
}

export function AgentView({ name }: { name: string }) {
  const agents = usePolled(() => api.listAgents(), "agents", 3000);
  const samples = useMetrics();
  const agent: AgentStatus | undefined = agents.data?.agents?.find((a) => a.name === name);
  const xs = samples.map((s) => s.t);
  const latency = [
    xs,
    agentSeries(samples, name, (m) => m?.p50Ms ?? null),
    agentSeries(samples, name, (m) => m?.p95Ms ?? null),
    agentSeries(samples, name, (m) => m?.p99Ms ?? null),
  ];
  const errors = [xs, agentSeries(samples, name, errorRate)];
  const tokens = [xs, agentSeries(samples, name, (m) => (m ? num(m.tokensUsed) : null))];
  return (
    <section aria-labelledby="page-title">
      <p class="crumbs">
        <a href="/agents">Agents</a> /
      </p>
      <h1 id="page-title" tabIndex={-1}>
        {name}
      </h1>
      {agents.error ? (
        <p class="form-error" role="alert">
          {agents.error}
        </p>
      ) : null}
      {!agents.loading && !agent ? <p class="form-error">The gateway has no agent named {name}.</p> : null}
      {agent ? (
        <>
          <p>{agent.card?.description}</p>
          <p class="small muted">
            {agent.card?.version ? `version ${agent.card.version}` : ""}
            {agent.card?.llmProvider ? ` · thinks with ${agent.card.llmProvider}` : ""}
            {agent.card?.streaming ? " · streams" : ""}
          </p>
          <section class="panel">
            <h2>Replicas</h2>
            <ul class="replicas">
              {(agent.replicas ?? []).map((replica) => (
                <li key={replica.address}>
                  <span class="mono">{replica.address}</span> <Health health={replica.health} />
                </li>
              ))}
            </ul>
          </section>
          <section class="panel">
            <h2>Calls</h2>
            <Numbers metrics={latest(samples, name)} />
            <div class="charts">
              <Chart
                title="Latency (ms)"
                series={[
                  { label: "p50", color: "#5aa9ff", unit: " ms" },
                  { label: "p95", color: "#f5b94a", dash: [6, 3], unit: " ms" },
                  { label: "p99", color: "#ff6b6b", dash: [2, 3], unit: " ms" },
                ]}
                data={latency}
              />
              <Chart title="Error rate (% of calls since the previous sample)" series={[{ label: "errors", color: "#ff6b6b", unit: "%" }]} data={errors} />
              <Chart title="Tokens used (total)" series={[{ label: "tokens", color: "#7bd88f" }]} data={tokens} />
            </div>
          </section>
          <section class="panel">
            <h2>Skills</h2>
            {(agent.card?.skills ?? []).map((skill) => (
              <article key={skill.id} class="skill">
                <h3>
                  <span class="mono">{skill.id}</span>
                  {skill.name && skill.name !== skill.id ? ` — ${skill.name}` : ""}
                </h3>
                <p>{skill.description}</p>
                <p class="small muted">
                  {[skill.streaming ? "streams" : "", skill.asksForInput ? "may ask for input" : "", ...(skill.tags ?? [])].filter(Boolean).join(" · ")}
                </p>
                <details>
                  <summary>Input schema</summary>
                  <pre class="json" tabIndex={0}>
                    {pretty(skill.inputSchema ?? {})}
                  </pre>
                </details>
                <details>
                  <summary>Output schema</summary>
                  <pre class="json" tabIndex={0}>
                    {pretty(skill.outputSchema ?? {})}
                  </pre>
                </details>
                {(skill.inputExamples ?? []).length > 0 ? (
                  <details>
                    <summary>Examples ({(skill.inputExamples ?? []).length})</summary>
                    {(skill.inputExamples ?? []).map((example, i) => (
                      <pre key={i} class="json" tabIndex={0}>
                        {pretty(example)}
                      </pre>
                    ))}
                  </details>
                ) : null}
              </article>
            ))}
          </section>
        </>
      ) : null}
    </section>
  );
}
