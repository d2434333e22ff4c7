// How a TypeScript agent thinks: one Provider interface, and three providers chosen by the
// AGENTMESH_LLM environment variable as every agentmesh runtime does.
import { status as Status } from "@grpc/grpc-js";

import { AgentError } from "../errors.js";

export interface Turn {
  role: "user" | "assistant";
  text: string;
}

/** What an agent asks a model. The offline provider answers from `data` with the task's composer. */
export interface Prompt {
  system?: string;
  user: string;
  task?: string;
  data?: unknown;
  jsonSchema?: Record<string, unknown>;
  history?: Turn[];
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

export interface Generation {
  text: string;
  usage: Usage;
}

export interface Provider {
  readonly name: string;
  readonly model: string;
  generate(prompt: Prompt, signal: AbortSignal): Promise<Generation>;
  /** Calls emit with each piece of text as it arrives; resolves to the whole answer. */
  stream(prompt: Prompt, signal: AbortSignal, emit: (piece: string) => Promise<void>): Promise<Generation>;
}

export function addUsage(a: Usage, b: Usage): Usage {
  return { inputTokens: a.inputTokens + b.inputTokens, outputTokens: a.outputTokens + b.outputTokens };
}

/** A provider that cannot be reached or answered unusably: worth retrying. */
export function unavailable(provider: string, message: string): AgentError {
  return new AgentError(Status.UNAVAILABLE, "LLM_UNAVAILABLE", message, { provider });
}

/** An LLM API's HTTP status as the error that says whether to retry, as every runtime translates it. */
export function forHttpStatus(provider: string, status: number, message: string, retryAfter?: string | null): AgentError {
  const metadata: Record<string, string> = { provider, http_status: String(status) };
  if (retryAfter && /^\d+$/.test(retryAfter)) {
    metadata.retry_after_seconds = retryAfter;
  }
  const text = `${provider} answered HTTP ${status}: ${message}`;
  if (status === 429) {
    return new AgentError(Status.RESOURCE_EXHAUSTED, "LLM_RATE_LIMITED", text, metadata);
  }
  if (status === 401 || status === 403) {
    return new AgentError(Status.FAILED_PRECONDITION, "LLM_AUTH_FAILED", text, metadata);
  }
  if (status === 408 || status >= 500) {
    return new AgentError(Status.UNAVAILABLE, "LLM_UNAVAILABLE", text, metadata);
  }
  return new AgentError(Status.INVALID_ARGUMENT, "LLM_REQUEST_REJECTED", text, metadata);
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    if (ms <= 0) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
