// Workflows: the ones registered on the gateway; each with its graph, its definition as YAML
// and a form made from its inputs that starts a run.

import { api } from "../api";
import { usePolled } from "../hooks";
import { navigate } from "../router";
import { inputsSchema, SchemaForm } from "../schemaform";
import type { JsonObject } from "../types";
import { workflowYaml } from "../yaml";
import { Dag } from "./dag";

export function WorkflowsView() {
  const workflows = usePolled(() => api.listWorkflows(), "workflows");
  const list = workflows.data?.workflows ?? [];
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
        {list.map((workflow) => (
          <article key={workflow.name} class="card panel" data-workflow={workflow.name}>
            <h2>
              <a href={`/workflows/${encodeURIComponent(workflow.name ?? "")}`}>{workflow.name}</a>
            </h2>
            <p>{workflow.description}</p>
            <p class="small muted">
              {(workflow.steps ?? []).length} steps · inputs: {(workflow.inputs ?? []).map((i) => i.name).join(", ") || "none"}
              {workflow.version ? ` · version ${workflow.version}` : ""}
            </p>
            <p class="small">
              <a href={`/runs?workflow=${encodeURIComponent(workflow.name ?? "")}`}>Its runs</a>
            </p>
          </article>
        ))}
      </div>
    </section>
  );
}

export function WorkflowView({ name, canOperate }: { name: string; canOperate: boolean }) {
  const workflows = usePolled(() => api.listWorkflows(), "workflows");
  const workflow = workflows.data?.workflows?.find((w) => w.name === name);
  return (
    <section aria-labelledby="page-title">
      <p class="crumbs">
        <a href="/workflows">Workflows</a> /
      </p>
      <h1 id="page-title" tabIndex={-1}>
        {name}
      </h1>
      {workflows.error ? (
        <p class="form-error" role="alert">
          {workflows.error}
        </p>
      ) : null}
      {!workflows.loading && !workflow ? <p class="form-error">The gateway has no workflow named {name}.</p> : null}
      {workflow ? (
        <>
          <p>{workflow.description}</p>
          <p class="small">
            <a href={`/runs?workflow=${encodeURIComponent(name)}`}>Runs of {name}</a>
          </p>
          {canOperate ? (
            <section class="panel start" aria-labelledby="start-title">
              <h2 id="start-title">Start a run</h2>
              <SchemaForm
                schema={inputsSchema(workflow.inputs ?? [])}
                idPrefix="input"
                submitLabel="Start run"
                busyLabel="Starting…"
                onSubmit={async (value) => {
                  const { run } = await api.startRun(name, (value ?? {}) as JsonObject);
                  if (run) navigate(`/runs/${run.runId}`);
                }}
              />
            </section>
          ) : null}
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
