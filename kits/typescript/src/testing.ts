// Calls a skill in-process as the server would (the same validation and reply), with the offline
// provider by default: what an agent's own tests use, with no server and no port.
import type { Agent } from "./agent.js";
import { Call } from "./call.js";
import { Offline } from "./llm/offline.js";
import type { Provider, Usage } from "./llm/provider.js";

export interface InvokeOptions {
  llm?: Provider;
  metadata?: Record<string, string>;
  signal?: AbortSignal;
  /** Collects what the handler streams, as InvokeStream would send it. */
  chunks?: string[];
}

export interface Result {
  text: string;
  data?: Record<string, unknown>;
  metadata: Record<string, unknown>;
  usage: Usage;
}

export async function invokeSkill(agent: Agent, skill: string, data: Record<string, unknown>, options: InvokeOptions = {}): Promise<Result> {
  const found = agent.find(skill);
  const chunks = options.chunks;
  const emit = chunks
    ? (text: string): Promise<void> => {
        chunks.push(text);
        return Promise.resolve();
      }
    : undefined;
  const call = new Call(
    agent.name,
    found.id,
    options.signal ?? new AbortController().signal,
    options.llm ?? new Offline(agent.composers),
    options.metadata ?? {},
    "",
    "",
    "",
    emit,
  );
  const answer = await found.invoke(data, call);
  return { ...answer, usage: call.usage };
}
