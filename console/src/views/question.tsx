// A question waiting for an answer: one a step's agent asked (a form made from its answer
// schema), or an ask step's, for the people its role or principals name. An approval is answered
// with Approve or Reject and an optional comment; a deadline says what happens when nobody answers.

import { useState } from "preact/hooks";

import { api, ApiError } from "../api";
import { formatWhen, pretty } from "../format";
import { questionText } from "../events";
import { useNow } from "../hooks";
import { SchemaForm } from "../schemaform";
import { mayAnswer } from "../session";
import { answeredBy, KIND_GLYPHS, stepKind } from "../stepkind";
import type { Caller, InputRequest, Json, JsonObject, Run, Step } from "../types";

/** An approval's answer schema: {approved: boolean, comment?: string}, nothing else. */
export function isApproval(schema: JsonObject | undefined, step: Step | undefined): boolean {
  if (step?.ask?.approval === true) return true;
  const properties = schema?.properties;
  if (properties === null || typeof properties !== "object" || Array.isArray(properties)) return false;
  const names = Object.keys(properties).sort().join(",");
  return names === "approved,comment" || names === "approved";
}

function problemText(exc: unknown): string {
  if (exc instanceof ApiError) return [exc.message, ...exc.violations.map((v) => `${v.field}: ${v.description}`)].join(" · ");
  return exc instanceof Error ? exc.message : String(exc);
}

function ApprovalForm({ idPrefix, send }: { idPrefix: string; send: (answer: Json) => Promise<void> }) {
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState<"" | "approve" | "reject">("");
  const [error, setError] = useState("");
  const answer = (approved: boolean): void => {
    setBusy(approved ? "approve" : "reject");
    setError("");
    const value: JsonObject = { approved };
    if (comment.trim()) value.comment = comment.trim();
    send(value).then(
      () => {
        setBusy("");
      },
      (exc: unknown) => {
        setBusy("");
        setError(problemText(exc));
      },
    );
  };
  return (
    <div class="approval" role="group" aria-label="approve or reject">
      <div class="field">
        <label for={`${idPrefix}-comment`}>
          Comment <span class="hint">(optional)</span>
        </label>
        <textarea
          id={`${idPrefix}-comment`}
          rows={2}
          value={comment}
          onInput={(event) => {
            setComment(event.currentTarget.value);
          }}
        />
      </div>
      <div class="approval-buttons">
        <button
          type="button"
          class="approve"
          disabled={busy !== ""}
          onClick={() => {
            answer(true);
          }}
        >
          <span aria-hidden="true">✓</span> {busy === "approve" ? "Approving…" : "Approve"}
        </button>
        <button
          type="button"
          class="danger"
          disabled={busy !== ""}
          onClick={() => {
            answer(false);
          }}
        >
          <span aria-hidden="true">✕</span> {busy === "reject" ? "Rejecting…" : "Reject"}
        </button>
      </div>
      {error ? (
        <p class="form-error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}

interface Props {
  runId: string;
  request: InputRequest;
  /** The step's definition (an ask step's question, approval, timeout and default answer). */
  step: Step | undefined;
  caller: Caller;
  onAnswered: (run: Run) => void;
  /** Keeps the form's ids apart from the same question's form elsewhere on the page. */
  scope?: string;
}

export function Question({ runId, request, step, caller, onAnswered, scope = "answer" }: Props) {
  const now = useNow(1000, request.deadline !== undefined);
  const where = request.item === undefined ? request.stepId : `${request.stepId} [item ${request.item}]`;
  const ask = step !== undefined && stepKind(step) === "ask";
  const approval = isApproval(request.answerSchema, step);
  const allowed = mayAnswer(caller, request.role, request.principals);
  const idPrefix = `${scope}-${request.stepId}-${request.item ?? "x"}-${request.turn ?? 0}`;
  const send = async (value: Json): Promise<void> => {
    const { run } = await api.provideInput(runId, request.stepId, request.item, value);
    if (run) onAnswered(run);
  };
  const fallback = step?.ask?.defaultAnswer;
  let refusal = "An operator can answer it; your role can only read.";
  if (request.principals && request.principals.length > 0) refusal = `Only ${request.principals.join(", ")} can answer it.`;
  else if (request.role === "admin") refusal = "An admin can answer it.";
  return (
    <div class={`question${approval ? " is-approval" : ""}`} data-step={request.stepId}>
      <h3>
        <span aria-hidden="true">{ask ? KIND_GLYPHS.ask : "?"}</span> {where} {approval ? "asks for approval" : "asks"}
      </h3>
      <p class="question-text">{questionText(request)}</p>
      {ask || request.role || request.principals?.length || request.deadline ? (
        <p class="small muted question-terms">
          For {answeredBy(request.role, request.principals)}
          {request.deadline ? (
            <>
              {" "}
              · times out {formatWhen(request.deadline, now)}
              {step?.ask ? (fallback === undefined ? ", then the step fails" : ", then the default answer is taken: ") : ""}
              {fallback === undefined ? null : <code>{pretty(fallback).replace(/\s+/g, " ")}</code>}
            </>
          ) : null}
        </p>
      ) : null}
      {!allowed ? (
        <p class="muted">{refusal}</p>
      ) : approval ? (
        <ApprovalForm idPrefix={idPrefix} send={send} />
      ) : (
        <SchemaForm schema={request.answerSchema} idPrefix={idPrefix} submitLabel="Send answer" onSubmit={send} />
      )}
    </div>
  );
}
