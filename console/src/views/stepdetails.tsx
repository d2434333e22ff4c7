// A selected step of a run: its state, what it does (an agent's skill, a question, a sleep, a
// child run), its attempts, duration, usage, trace, the limit it is queued for, its questions,
// its input and output.

import { formatCost, formatDuration, formatTime, formatTokens, formatWhen, pretty } from "../format";
import { limitText } from "../events";
import type { RunModel, StepView } from "../runmodel";
import { KIND_GLYPHS, stepDoes, stepKind } from "../stepkind";
import type { Caller, Json, Run } from "../types";
import { spentAnything } from "../usage";
import { stepDetail } from "./dag";
import { Question } from "./question";
import { StateBadge } from "./runs";

export function JsonBlock({ value, label }: { value: Json | undefined; label: string }) {
  if (value === undefined) return <p class="muted">none</p>;
  return (
    <pre class="json" tabIndex={0} aria-label={label}>
      {pretty(value)}
    </pre>
  );
}

/** Links to a sub-workflow step's child runs. */
export function ChildRuns({ ids }: { ids: string[] }) {
  if (ids.length === 0) return <span class="muted">not started yet</span>;
  return (
    <span class="child-runs">
      {ids.map((id, index) => (
        <a key={id} href={`/runs/${id}`} class="mono" data-testid="child-run">
          {ids.length > 1 ? `[${index}] ` : ""}
          {id.slice(0, 12)}…
        </a>
      ))}
    </span>
  );
}

function What({ view, now }: { view: StepView; now: number }) {
  const def = view.def;
  switch (stepKind(def)) {
    case "agent":
      return (
        <>
          <dt>Agent</dt>
          <dd>
            <a href={`/agents/${encodeURIComponent(def.agent ?? "")}`}>{def.agent}</a>
            {def.skill ? ` · ${def.skill}` : ""}
          </dd>
        </>
      );
    case "ask":
      return (
        <>
          <dt>Does</dt>
          <dd>
            <span aria-hidden="true">{KIND_GLYPHS.ask}</span> {stepDoes(def)}
            {def.ask?.timeout ? ` · times out after ${def.ask.timeout}` : ""}
          </dd>
        </>
      );
    case "sleep":
      return (
        <>
          <dt>Does</dt>
          <dd>
            <span aria-hidden="true">{KIND_GLYPHS.sleep}</span> {stepDoes(def)}
          </dd>
          {view.wakeTime !== null ? (
            <>
              <dt>{view.state === "STEP_STATE_SLEEPING" ? "Wakes" : "Woke"}</dt>
              <dd data-testid="step-wake">
                {view.state === "STEP_STATE_SLEEPING" ? formatWhen(new Date(view.wakeTime).toISOString(), now) : formatTime(new Date(view.wakeTime).toISOString())}
              </dd>
            </>
          ) : null}
        </>
      );
    case "workflow":
      return (
        <>
          <dt>Does</dt>
          <dd>
            <span aria-hidden="true">{KIND_GLYPHS.workflow}</span> runs workflow{" "}
            <a href={`/workflows/${encodeURIComponent((def.workflow ?? "").split("@")[0] ?? "")}`}>{def.workflow}</a> as a child run
          </dd>
          <dt>Child runs</dt>
          <dd>
            <ChildRuns ids={view.childRunIds} />
          </dd>
        </>
      );
  }
}

interface Props {
  model: RunModel;
  view: StepView;
  caller: Caller;
  now: number;
  onChanged: (run: Run) => void;
}

export function StepDetails({ model, view, caller, now, onChanged }: Props) {
  const duration = view.start === null ? null : (view.end ?? Math.max(now, Date.now())) - view.start;
  const queue = view.state === "STEP_STATE_QUEUED" ? view.queue : undefined;
  return (
    <div class="step-details" data-testid="step-details" data-step={view.def.id}>
      <h2 id="step-title">
        Step <span class="mono">{view.def.id}</span>
      </h2>
      <dl class="facts">
        <dt>State</dt>
        <dd>
          <StateBadge state={view.state} kind="step" /> {stepDetail(view)}
        </dd>
        <What view={view} now={now} />
        {queue ? (
          <>
            <dt>Queued</dt>
            <dd data-testid="step-queue">
              attempt {queue.attempt} waits for {limitText(queue.agent, queue.limit)}, since {formatTime(new Date(queue.since).toISOString())}
            </dd>
          </>
        ) : null}
        {stepKind(view.def) === "agent" ? (
          <>
            <dt>Attempts</dt>
            <dd>{view.attempts}</dd>
          </>
        ) : null}
        <dt>Duration</dt>
        <dd>{formatDuration(duration)}</dd>
        {spentAnything(view.usage) ? (
          <>
            <dt>Tokens</dt>
            <dd data-testid="step-usage">
              {formatTokens(view.usage.input)} in, {formatTokens(view.usage.output)} out · cost {formatCost(view.usage.cost)}
              {view.usage.models.size > 1 ? ` (${[...view.usage.models.keys()].map((m) => m || "unnamed model").join(", ")})` : ""}
            </dd>
          </>
        ) : null}
        <dt>Trace</dt>
        <dd class="mono small">
          trace {model.runId} · span “step {view.def.id}” per attempt
        </dd>
        {view.def.forEach ? (
          <>
            <dt>For each</dt>
            <dd class="mono small">{view.def.forEach}</dd>
          </>
        ) : null}
        {view.def.when ? (
          <>
            <dt>When</dt>
            <dd class="mono small">{view.def.when}</dd>
          </>
        ) : null}
      </dl>
      {view.error ? (
        <div class="step-error" role="note" data-testid="step-error">
          <strong>
            {view.error.code}
            {view.error.reason ? ` (${view.error.reason})` : ""}
          </strong>
          : {view.error.message}
        </div>
      ) : null}
      {view.pendingInput.map((request) => (
        <Question key={`${request.item ?? ""}-${request.turn ?? 0}`} runId={model.runId} request={request} step={view.def} caller={caller} onAnswered={onChanged} scope="step-answer" />
      ))}
      <h3>Input</h3>
      <JsonBlock value={view.def.input} label={`input of ${view.def.id}`} />
      <h3>Output</h3>
      <JsonBlock value={view.output} label={`output of ${view.def.id}`} />
      {view.text ? (
        <>
          <h3>Text</h3>
          <pre class="text" tabIndex={0}>
            {view.text}
          </pre>
        </>
      ) : null}
    </div>
  );
}
