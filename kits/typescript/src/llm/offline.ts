// The offline provider: deterministic answers with no network and no key. Each agent registers a
// composer per task that builds a role-appropriate answer from the prompt's data, so an offline
// mesh produces output of the shape a real model is asked for. Tokens are counted as words.
import { type Generation, type Prompt, type Provider, sleep, type Usage } from "./provider.js";

/** Builds the answer to one task from the prompt's data: a JSON value or text. */
export type Composer = (data: unknown) => unknown;

export const OFFLINE_MODEL = "offline-1";

export class Offline implements Provider {
  readonly name = "offline";
  readonly model = OFFLINE_MODEL;

  constructor(
    private readonly composers: ReadonlyMap<string, Composer> = new Map(),
    private readonly latencyMs = 0,
  ) {}

  async generate(prompt: Prompt, signal: AbortSignal): Promise<Generation> {
    await sleep(this.latencyMs, signal);
    const text = this.compose(prompt);
    return { text, usage: wordUsage(prompt, text) };
  }

  async stream(prompt: Prompt, signal: AbortSignal, emit: (piece: string) => Promise<void>): Promise<Generation> {
    const text = this.compose(prompt);
    const pieces = text.match(/\S+\s*|\s+/g) ?? [];
    const pause = pieces.length > 0 ? this.latencyMs / pieces.length : 0;
    for (const piece of pieces) {
      await sleep(pause, signal);
      await emit(piece);
    }
    return { text, usage: wordUsage(prompt, text) };
  }

  private compose(prompt: Prompt): string {
    const composer = prompt.task === undefined ? undefined : this.composers.get(prompt.task);
    if (composer === undefined) {
      return withoutComposer(prompt);
    }
    const answer = composer(prompt.data);
    return typeof answer === "string" ? answer : JSON.stringify(answer);
  }
}

function withoutComposer(prompt: Prompt): string {
  const words = prompt.user.split(/\s+/).filter(Boolean);
  const gist = words.slice(0, 24).join(" ") + (words.length > 24 ? " …" : "");
  const remembered = (prompt.history ?? []).filter((turn) => turn.role === "user").length;
  const memory = remembered > 0 ? ` Earlier in this conversation you sent ${remembered} message(s).` : "";
  return `(offline model) You said: "${gist}".${memory} Configure AGENTMESH_LLM for a real model.`;
}

function countWords(text: string | undefined): number {
  return (text ?? "").split(/\s+/).filter(Boolean).length;
}

function wordUsage(prompt: Prompt, text: string): Usage {
  let words = countWords(prompt.system) + countWords(prompt.user);
  for (const turn of prompt.history ?? []) {
    words += countWords(turn.text);
  }
  return { inputTokens: words, outputTokens: countWords(text) };
}
