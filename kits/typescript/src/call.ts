// What a handler gets besides its input: the call's cancellation, its metadata, the model, a way
// to stream output, and the conversation so far when the skill asked for input. Model tokens used
// through it add up into the reply's usage.
import { status as Status } from "@grpc/grpc-js";
import type { z } from "zod";

import type { ConversationMessage } from "./conversation.js";
import { AgentError } from "./errors.js";
import { addUsage, type Generation, type Prompt, type Provider, type Usage } from "./llm/provider.js";
import { decode, decodeAnswer, jsonSchemaOf } from "./schema.js";
import { parseTraceParent, type TraceParent } from "./trace.js";

export class Call {
  private used: Usage = { inputTokens: 0, outputTokens: 0 };

  constructor(
    readonly agent: string,
    readonly skill: string,
    /** Aborts when the caller cancels, its deadline passes, or the server stops after its grace. */
    readonly signal: AbortSignal,
    readonly llm: Provider,
    /** The call's gRPC metadata: lower-case keys, first value of each. */
    readonly metadata: Readonly<Record<string, string>>,
    /** The request's text parts, joined by blank lines: the first request's on a later turn. */
    readonly text: string,
    /** Groups the messages of one conversation or workflow run. */
    readonly contextId: string,
    readonly sender: string,
    private readonly emitter?: (text: string) => Promise<void>,
    /**
     * The conversation before this call's message when the skill asked for input: the first
     * request, then each question asked and the answer it got, ending with the question this
     * call's message answers. Empty on a first call.
     */
    readonly history: readonly ConversationMessage[] = [],
    /** This call's message: the request, or on a later turn the answer. */
    private readonly received?: ConversationMessage,
  ) {}

  /** The answer to the question the skill asked last (see `ask`); undefined on a first call. */
  get answer(): ConversationMessage | undefined {
    return this.history.length > 0 ? this.received : undefined;
  }

  /** How many of the skill's questions have been answered in this conversation (0 on a first call). */
  get turn(): number {
    return Math.floor(this.history.length / 2);
  }

  /**
   * The answer's data parsed with `schema`. An answer that does not fit is the caller's fault:
   * INVALID_ARGUMENT, reason INVALID_ANSWER, a violation per field named `answer.<path>`.
   * On a first call there is no answer, and it throws (a bug in the skill: INTERNAL).
   */
  answerAs<T>(schema: z.ZodType<T>): T {
    const answer = this.answer;
    if (answer === undefined) {
      throw new Error(`skill ${this.skill} read an answer on the conversation's first call: no question was asked`);
    }
    return decodeAnswer(schema, answer.data);
  }

  /** The same for every delivery of one attempt of one workflow step: dedupe side effects on it. */
  get idempotencyKey(): string | undefined {
    return this.metadata["agentmesh-idempotency-key"];
  }

  /**
   * Who the gateway works for in this call: the principal that started the run (undefined without
   * authentication). Trust it only when this agent demands client certificates (mutual TLS).
   */
  get principal(): string | undefined {
    return this.metadata["agentmesh-principal"];
  }

  /** The W3C trace context the caller sent, when it sent a valid one. */
  get trace(): TraceParent | undefined {
    return parseTraceParent(this.metadata.traceparent);
  }

  /** Whether the caller reads output as it is produced (InvokeStream). */
  get streaming(): boolean {
    return this.emitter !== undefined;
  }

  get usage(): Usage {
    return this.used;
  }

  /** Sends a piece of output now when the caller streams; does nothing for unary calls. */
  async emit(text: string): Promise<void> {
    if (this.emitter && text) {
      await this.emitter(text);
    }
  }

  /** Asks the model; when the caller streams, its output is emitted as it arrives. */
  async generate(prompt: Prompt): Promise<Generation> {
    const asked = { task: this.skill, ...prompt };
    const generation = this.emitter
      ? await this.llm.stream(asked, this.signal, this.emitter)
      : await this.llm.generate(asked, this.signal);
    this.used = addUsage(this.used, generation.usage);
    return generation;
  }

  /** Asks the model for JSON of `schema`'s shape and validates it. A model that answers off-schema
   * may answer on-schema next time: that error is retryable (UNAVAILABLE, LLM_BAD_OUTPUT). */
  async generateJSON<T>(schema: z.ZodType<T>, prompt: Prompt): Promise<T> {
    const asked = { task: this.skill, ...prompt, jsonSchema: jsonSchemaOf(schema, "output") };
    const generation = await this.llm.generate(asked, this.signal);
    this.used = addUsage(this.used, generation.usage);
    let value: unknown;
    try {
      value = JSON.parse(stripFences(generation.text));
    } catch (error) {
      throw this.badOutput(error instanceof Error ? error.message : String(error));
    }
    try {
      return decode(schema, value, "model output");
    } catch (error) {
      throw this.badOutput(error instanceof Error ? error.message : String(error));
    }
  }

  private badOutput(cause: string): AgentError {
    return new AgentError(
      Status.UNAVAILABLE,
      "LLM_BAD_OUTPUT",
      `${this.llm.name} answered with output that does not fit the skill's output: ${cause}`,
      { provider: this.llm.name, model: this.llm.model },
    );
  }
}

/** JSON unwrapped from the markdown code fence models often put it in. */
export function stripFences(text: string): string {
  const stripped = text.trim();
  if (!stripped.startsWith("```")) {
    return stripped;
  }
  const newline = stripped.indexOf("\n");
  if (newline < 0) {
    return "";
  }
  const rest = stripped.slice(newline + 1);
  const end = rest.lastIndexOf("```");
  return end >= 0 ? rest.slice(0, end) : rest;
}
