// Workflows: the ones registered on the gateway (their latest versions); each with every version
// registered (when, how many runs use it, how many are unfinished), a version's graph and its
// definition as YAML (`?version=V`), and a form made from its inputs that starts a run of it.

import { api } from "../api";
import { formatCost, formatDateTime, formatTokens, num } from "../format";
import { usePolled } from "../hooks";
import { navigate, withQuery } from "../router";
import { inputsSchema, SchemaForm } from "../schemaform";
import type { JsonObject, Workflow, WorkflowVersion } from "../types";
import { workflowYaml } from "../yaml";
import { Dag } from "./dag";

function runsOf(versions: WorkflowVersion[]): { runs: number; unfinished: number } {
  return versions.reduce((sum, v) => ({ runs: sum.runs + num(v.runs), unfinished: sum.unfinished + num(v.runsUnfinished) }), { runs: 0, unfinished: 0 });
}

export function budgetText(workflow: Workflow): string {
  const parts: string[] = [];
  if (num(workflow.budget?.tokens) > 0) parts.push(`${formatTokens(workflow.budget?.tokens)} tokens`);
  if ((workflow.budget?.cost ?? 0) > 0) parts.push(`cost ${formatCost(workflow.budget?.cost)}`);
  return parts.join(", ");
}

export function WorkflowsView() {
  const workflows = usePolled(() => api.listWorkflows(), "workflows", 5000);
  const list = workflows.data?.workflows ?? [];
  const versions = workflows.data?.versions ?? [];
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1}>
        Workflows
      </h1>
      {workflows.error ? (
        <p class="form-error" role="alert">
          {workflows.error}
        </p>
      ) : null}
      <div class="cards">
        {list.map((workflow) => {
          const mine = versions.filter((v) => v.name === workflow.name);
          const { runs, unfinished } = runsOf(mine);
          return (
            <article key={workflow.name} class="card panel" data-workflow={workflow.name}>
              <h2>
                <a href={`/workflows/${encodeURIComponent(workflow.name ?? "")}`}>{workflow.name}</a>
              </h2>
              <p>{workflow.description}</p>
              <p class="small muted">
                {(workflow.steps ?? []).length} steps · inputs: {(workflow.inputs ?? []).map((i) => i.name).join(", ") || "none"}
                {workflow.version ? ` · version ${workflow.version}` : ""}
                {mine.length > 1 ? ` (${mine.length} versions)` : ""}
                {budgetText(workflow) ? ` · budget ${budgetText(workflow)}` : ""}
              </p>
              <p class="small">
                <a href={`/runs?workflow=${encodeURIComponent(workflow.name ?? "")}`}>Its runs</a>
                {mine.length > 0 ? ` · ${runs} in all, ${unfinished} unfinished` : ""}
              </p>
            </article>
          );
        })}
      </div>
    </section>
  );
}

function Versions({ name, versions, shown, latest }: { name: string; versions: WorkflowVersion[]; shown: string; latest: string }) {
  return (
    <section class="panel" aria-labelledby="versions-title">
      <h2 id="versions-title">Versions</h2>
      <div class="table-wrap">
        <table class="versions">
          <caption class="sr-only">Versions of {name}, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Registered</th>
              <th scope="col">Runs</th>
              <th scope="col">Unfinished</th>
              <th scope="col">Digest</th>
            </tr>
          </thead>
          <tbody>
            {versions.map((v) => {
              const current = (v.version ?? "") === shown;
              return (
                <tr key={v.version} data-version={v.version} class={current ? "current" : undefined}>
                  <td data-label="Version">
                    <a
                      href={withQuery(`/workflows/${encodeURIComponent(name)}`, { version: v.version === latest ? undefined : v.version })}
                      aria-current={current ? "page" : undefined}
                    >
                      {v.version}
                    </a>
                    {v.version === latest ? <span class="small muted"> latest</span> : null}
                  </td>
                  <td data-label="Registered">{formatDateTime(v.createTime)}</td>
                  <td data-label="Runs">{num(v.runs)}</td>
                  <td data-label="Unfinished">{num(v.runsUnfinished)}</td>
                  <td data-label="Digest" class="mono small" title={v.digest}>
                    {(v.digest ?? "").slice(0, 12)}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function WorkflowView({ name, query, canOperate }: { name: string; query: URLSearchParams; canOperate: boolean }) {
  const asked = query.get("version") ?? "";
  const ref = asked ? `${name}@${asked}` : name;
  const found = usePolled((signal) => api.getWorkflow(ref, signal), `workflow:${ref}`, 5000);
  const workflow = found.data?.workflow;
  const versions = found.data?.versions ?? [];
  const latest = versions[0]?.version ?? workflow?.version ?? "";
  const shown = workflow?.version ?? asked;
  const pinned = shown !== "" && shown !== latest;
  return (
    <section aria-labelledby="page-title">
      <p class="crumbs">
        <a href="/workflows">Workflows</a> /
      </p>
      <h1 id="page-title" tabIndex={-1}>
        {name}
        {pinned ? <span class="muted"> @{shown}</span> : null}
      </h1>
      {found.error ? (
        <p class="form-error" role="alert">
          {found.error}
        </p>
      ) : null}
      {workflow ? (
        <>
          <p>{workflow.description}</p>
          <p class="small" data-testid="workflow-version">
            {shown ? `Version ${shown}` : "Unversioned"}
            {pinned ? ` — not the latest (${latest} is; a run by name starts that one)` : versions.length > 0 ? " (the latest)" : ""}
            {budgetText(workflow) ? ` · budget: ${budgetText(workflow)} per run` : ""} ·{" "}
            <a href={`/runs?workflow=${encodeURIComponent(name)}`}>Runs of {name}</a>
          </p>
          {canOperate ? (
            <section class="panel start" aria-labelledby="start-title">
              <h2 id="start-title">{pinned ? `Start a run of version ${shown}` : "Start a run"}</h2>
              <SchemaForm
                key={ref}
                schema={inputsSchema(workflow.inputs ?? [])}
                idPrefix="input"
                submitLabel="Start run"
                busyLabel="Starting…"
                onSubmit={async (value) => {
                  const { run } = await api.startRun(pinned ? `${name}@${shown}` : name, (value ?? {}) as JsonObject);
                  if (run) navigate(`/runs/${run.runId}`);
                }}
              />
            </section>
          ) : null}
          {versions.length > 0 ? <Versions name={name} versions={versions} shown={shown} latest={latest} /> : null}
          <section class="panel" aria-label="graph">
            <h2>Graph</h2>
            <Dag steps={workflow.steps ?? []} />
          </section>
          <section class="panel" aria-label="definition">
            <h2>Definition</h2>
            <pre class="yaml" tabIndex={0} aria-label={`${name} as YAML`}>
              {workflowYaml(workflow)}
            </pre>
          </section>
        </>
      ) : null}
    </section>
  );
}
