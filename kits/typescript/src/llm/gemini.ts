// Gemini, through Google's @google/genai SDK.
import { ApiError, type Content, type GenerateContentConfig, type GenerateContentResponse, GoogleGenAI } from "@google/genai";

import { type Generation, type Prompt, type Provider, forHttpStatus, unavailable, type Usage } from "./provider.js";

export const DEFAULT_GEMINI_MODEL = "gemini-2.5-flash";

export class Gemini implements Provider {
  readonly name = "gemini";
  private readonly client: GoogleGenAI;

  constructor(
    apiKey: string,
    readonly model: string,
    baseUrl?: string,
  ) {
    this.client = new GoogleGenAI({ apiKey, ...(baseUrl ? { httpOptions: { baseUrl } } : {}) });
  }

  async generate(prompt: Prompt, signal: AbortSignal): Promise<Generation> {
    try {
      const response = await this.client.models.generateContent({
        model: this.model,
        contents: contents(prompt),
        config: config(prompt, signal),
      });
      return { text: response.text ?? "", usage: usageOf(response) };
    } catch (error) {
      throw translate(error, signal);
    }
  }

  async stream(prompt: Prompt, signal: AbortSignal, emit: (piece: string) => Promise<void>): Promise<Generation> {
    try {
      const stream = await this.client.models.generateContentStream({
        model: this.model,
        contents: contents(prompt),
        config: config(prompt, signal),
      });
      let text = "";
      let usage: Usage = { inputTokens: 0, outputTokens: 0 };
      for await (const chunk of stream) {
        if (chunk.usageMetadata) {
          usage = usageOf(chunk);
        }
        const piece = chunk.text ?? "";
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
}

function contents(prompt: Prompt): Content[] {
  const turns: Content[] = (prompt.history ?? []).map((turn) => ({
    role: turn.role === "user" ? "user" : "model",
    parts: [{ text: turn.text }],
  }));
  turns.push({ role: "user", parts: [{ text: prompt.user }] });
  return turns;
}

function config(prompt: Prompt, signal: AbortSignal): GenerateContentConfig {
  const settings: GenerateContentConfig = { abortSignal: signal };
  if (prompt.system) {
    settings.systemInstruction = prompt.system;
  }
  if (prompt.jsonSchema) {
    settings.responseMimeType = "application/json";
    settings.responseJsonSchema = prompt.jsonSchema;
  }
  return settings;
}

function usageOf(response: GenerateContentResponse): Usage {
  const meta = response.usageMetadata;
  return {
    inputTokens: meta?.promptTokenCount ?? 0,
    outputTokens: (meta?.candidatesTokenCount ?? 0) + (meta?.thoughtsTokenCount ?? 0),
  };
}

function translate(error: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) {
    return signal.reason ?? error;
  }
  if (error instanceof ApiError) {
    let message = error.message;
    try {
      // The SDK's message is the API's whole JSON error body; its message field says it all.
      const body = JSON.parse(message) as { error?: { message?: unknown } };
      if (typeof body.error?.message === "string") {
        message = body.error.message;
      }
    } catch {
      // Not JSON: the message as it came.
    }
    return forHttpStatus("gemini", error.status, message);
  }
  return unavailable("gemini", `gemini is unreachable: ${error instanceof Error ? error.message : String(error)}`);
}
