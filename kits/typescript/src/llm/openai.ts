// Any OpenAI-compatible chat completions server (OpenAI, Ollama, vLLM), through the openai SDK.
import OpenAIClient, { APIConnectionError, APIError, APIUserAbortError } from "openai";
import type { ChatCompletionCreateParamsBase, ChatCompletionMessageParam } from "openai/resources/chat/completions";

import { type Generation, type Prompt, type Provider, forHttpStatus, unavailable, type Usage } from "./provider.js";

export const DEFAULT_OPENAI_BASE_URL = "http://localhost:11434/v1";
export const DEFAULT_OPENAI_MODEL = "llama3.2";

export class OpenAI implements Provider {
  readonly name = "openai";
  private readonly client: OpenAIClient;

  constructor(
    baseURL: string,
    readonly model: string,
    apiKey: string,
  ) {
    // Local servers ignore the key, the SDK wants one. Retries are the orchestrator's decision
    // (it sees every attempt): the SDK must not retry behind it.
    this.client = new OpenAIClient({ baseURL, apiKey: apiKey || "unused", maxRetries: 0 });
  }

  async generate(prompt: Prompt, signal: AbortSignal): Promise<Generation> {
    try {
      const completion = await this.client.chat.completions.create({ ...this.params(prompt), stream: false }, { signal });
      return { text: completion.choices[0]?.message.content ?? "", usage: usageOf(completion.usage) };
    } catch (error) {
      throw translate(error, signal);
    }
  }

  async stream(prompt: Prompt, signal: AbortSignal, emit: (piece: string) => Promise<void>): Promise<Generation> {
    try {
      const stream = await this.client.chat.completions.create(
        { ...this.params(prompt), stream: true, stream_options: { include_usage: true } },
        { signal },
      );
      let text = "";
      let usage: Usage = { inputTokens: 0, outputTokens: 0 };
      for await (const chunk of stream) {
        if (chunk.usage) {
          usage = usageOf(chunk.usage);
        }
        const piece = chunk.choices[0]?.delta.content ?? "";
        if (piece) {
          text += piece;
          await emit(piece);
        }
      }
      return { text, usage };
    } catch (error) {
      throw translate(error, signal);
    }
  }

  private params(prompt: Prompt): ChatCompletionCreateParamsBase {
    let system = prompt.system ?? "";
    const params: ChatCompletionCreateParamsBase = { model: this.model, messages: [] };
    if (prompt.jsonSchema) {
      // json_object mode is the widest-supported structured mode; the schema travels in the prompt.
      system += "\nAnswer with one JSON object matching this JSON Schema:\n" + JSON.stringify(prompt.jsonSchema);
      params.response_format = { type: "json_object" };
    }
    const messages: ChatCompletionMessageParam[] = [];
    if (system.trim()) {
      messages.push({ role: "system", content: system });
    }
    for (const turn of prompt.history ?? []) {
      messages.push({ role: turn.role, content: turn.text });
    }
    messages.push({ role: "user", content: prompt.user });
    params.messages = messages;
    return params;
  }
}

function usageOf(usage: { prompt_tokens: number; completion_tokens: number } | null | undefined): Usage {
  return { inputTokens: usage?.prompt_tokens ?? 0, outputTokens: usage?.completion_tokens ?? 0 };
}

function translate(error: unknown, signal: AbortSignal): unknown {
  if (signal.aborted || error instanceof APIUserAbortError) {
    return signal.reason ?? error;
  }
  if (error instanceof APIConnectionError) {
    return unavailable("openai", `the OpenAI-compatible server is unreachable: ${error.message}`);
  }
  if (error instanceof APIError && typeof error.status === "number") {
    const body = error.error as { message?: unknown } | undefined;
    const message = typeof body?.message === "string" ? body.message : error.message;
    const headers = error.headers as Headers | undefined;
    return forHttpStatus("openai", error.status, message, headers?.get("retry-after"));
  }
  return error;
}
