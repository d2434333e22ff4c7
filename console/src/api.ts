// Calls to the gateway's HTTP/JSON API, with the bearer token (if any) as a header: never a
// cookie, so there is nothing for another site to ride on (no CSRF), and the static files
// need no token at all.

import type { AgentStatus, Caller, Json, JsonObject, Metrics, Run, Schedule, Workflow, WorkflowVersion } from "./types";

export interface FieldViolation {
  field: string;
  description: string;
}

/** An RFC 9457 problem the gateway answered with (or a network failure, status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string = "",
    readonly reason: string = "",
    readonly violations: FieldViolation[] = [],
  ) {
    super(message);
    this.name = "ApiError";
  }
}

let token: string | null = null;
let onUnauthenticated: (() => void) | null = null;

export function setToken(value: string | null): void {
  token = value;
}

/** Called when a request is refused for want of a (valid) token: the console asks to sign in. */
export function whenUnauthenticated(handler: () => void): void {
  onUnauthenticated = handler;
}

export function unauthenticated(): void {
  onUnauthenticated?.();
}

export function headers(extra: Record<string, string> = {}): Record<string, string> {
  const all: Record<string, string> = { Accept: "application/json", ...extra };
  if (token !== null) all.Authorization = `Bearer ${token}`;
  return all;
}

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** The problem JSON's useful parts: its code, reason (ErrorInfo) and field violations. */
export async function problem(response: Response): Promise<ApiError> {
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = await response.json();
    if (parsed !== null && typeof parsed === "object") body = parsed as Record<string, unknown>;
  } catch {
    // not JSON: the status line says enough
  }
  const violations: FieldViolation[] = [];
  const collect = (list: unknown): void => {
    if (!Array.isArray(list)) return;
    for (const entry of list as unknown[]) {
      if (entry !== null && typeof entry === "object") {
        const item = entry as Record<string, unknown>;
        violations.push({ field: str(item.field), description: str(item.description) || str(item.message) });
      }
    }
  };
  collect(body.fieldViolations ?? body.field_violations ?? body.violations ?? body.errors);
  let reason = str(body.reason);
  if (Array.isArray(body.details)) {
    for (const detail of body.details as unknown[]) {
      if (detail === null || typeof detail !== "object") continue;
      const d = detail as Record<string, unknown>;
      if (!reason) reason = str(d.reason);
      collect(d.fieldViolations ?? d.field_violations);
    }
  }
  const message = str(body.detail) || str(body.message) || str(body.title) || `${response.status} ${response.statusText}`;
  const code = str(body.code) || str(body.grpcCode) || str(body.grpc_code) || str(body.status);
  return new ApiError(response.status, message, code, reason, violations);
}

export async function request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  let response: Response;
  try {
    const init: RequestInit = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
    if (body !== undefined) init.body = JSON.stringify(body);
    if (signal !== undefined) init.signal = signal;
    response = await fetch(path, init);
  } catch (exc) {
    if (exc instanceof DOMException && exc.name === "AbortError") throw exc;
    throw new ApiError(0, "the gateway cannot be reached");
  }
  if (!response.ok) {
    const error = await problem(response);
    if (response.status === 401) unauthenticated();
    throw error;
  }
  return (await response.json()) as T;
}

export function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

const enc = encodeURIComponent;

/** An answer as the part that carries it: an object as data (checked against the schema), else text. */
function answerPart(answer: Json): { data: JsonObject } | { text: string } {
  if (answer !== null && typeof answer === "object" && !Array.isArray(answer)) return { data: answer };
  return { text: typeof answer === "string" ? answer : JSON.stringify(answer) };
}

export const api = {
  caller: () => request<Caller>("GET", "/v1/caller"),
  listRuns: (params: { pageSize?: number; pageToken?: string; state?: string; workflow?: string; principal?: string; query?: string }, signal?: AbortSignal) =>
    request<{ runs?: Run[]; nextPageToken?: string }>(
      "GET",
      "/v1/runs" +
        query({
          page_size: params.pageSize,
          page_token: params.pageToken,
          state: params.state,
          workflow_name: params.workflow,
          principal: params.principal,
          query: params.query,
        }),
      undefined,
      signal,
    ),
  getRun: (runId: string, signal?: AbortSignal) => request<{ run?: Run }>("GET", `/v1/runs/${enc(runId)}`, undefined, signal),
  startRun: (workflowName: string, inputs: JsonObject) => request<{ run?: Run }>("POST", "/v1/runs", { workflowName, inputs }),
  cancelRun: (runId: string, reason: string) => request<{ run?: Run }>("POST", `/v1/runs/${enc(runId)}:cancel`, { reason }),
  provideInput: (runId: string, stepId: string, item: number | undefined, answer: Json) =>
    request<{ run?: Run }>("POST", `/v1/runs/${enc(runId)}:provideInput`, {
      stepId,
      ...(item === undefined ? {} : { item }),
      answer: { role: "ROLE_USER", parts: [answerPart(answer)] },
    }),
  listAgents: () => request<{ agents?: AgentStatus[] }>("GET", "/v1/agents"),
  listWorkflows: () => request<{ workflows?: Workflow[]; versions?: WorkflowVersion[] }>("GET", "/v1/workflows"),
  /** NAME (the latest version) or NAME@VERSION, with every version of it. */
  getWorkflow: (name: string, signal?: AbortSignal) =>
    request<{ workflow?: Workflow; versions?: WorkflowVersion[] }>("GET", `/v1/workflows/${enc(name)}`, undefined, signal),
  listSchedules: (pageToken: string, signal?: AbortSignal) =>
    request<{ schedules?: Schedule[]; nextPageToken?: string }>("GET", `/v1/schedules${query({ page_size: 500, page_token: pageToken })}`, undefined, signal),
  getSchedule: (name: string, signal?: AbortSignal) => request<{ schedule?: Schedule }>("GET", `/v1/schedules/${enc(name)}`, undefined, signal),
  createSchedule: (schedule: Partial<Schedule>) => request<{ schedule?: Schedule }>("POST", "/v1/schedules", schedule),
  pauseSchedule: (name: string, reason: string) => request<{ schedule?: Schedule }>("POST", `/v1/schedules/${enc(name)}:pause`, { reason }),
  resumeSchedule: (name: string) => request<{ schedule?: Schedule }>("POST", `/v1/schedules/${enc(name)}:resume`, {}),
  triggerSchedule: (name: string) => request<{ run?: Run }>("POST", `/v1/schedules/${enc(name)}:trigger`, {}),
  deleteSchedule: (name: string) => request<object>("DELETE", `/v1/schedules/${enc(name)}`),
  metrics: () => request<{ metrics?: Metrics }>("GET", "/v1/metrics"),
};
