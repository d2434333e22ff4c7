// An agent is a name, a description and skills: each a zod input schema, an optional output
// schema, and an async handler, which may ask the caller a question before it answers (`ask`).
// How it is served lives in server.ts; how it is run in main.ts.
import { status as Status } from "@grpc/grpc-js";
import type { z } from "zod";

import type { Call } from "./call.js";
import { AgentError } from "./errors.js";
import type { Composer } from "./llm/offline.js";
import { answerSchemaOf, decode, jsonSchemaOf, type JsonSchema, withAliases } from "./schema.js";

/** What a handler answers: readable text (markdown), structured data of the output schema, and
 * files, which the reply carries after its text and data (a run keeps them as the step's files). */
export interface Reply<Out> {
  text?: string;
  data?: Out;
  metadata?: Record<string, unknown>;
  files?: FilePart[];
  /** The reply is a message in its own right, not a task's result (A2A answers a message with
   * either): an A2A caller of the agent gets it as a Message. Only from a skill declared with
   * `directReplies: true`. */
  direct?: boolean;
}

/** A file a reply carries: its bytes (`raw`) or a URL where they are, with a media type (e.g.
 * "text/plain") and a file name. */
export type FilePart = { raw: Uint8Array; mediaType?: string; filename?: string } | { url: string; mediaType?: string; filename?: string };

/**
 * A question a handler answers with instead of a reply (A2A's input-required); `ask` makes one.
 * The caller answers it, and the skill is invoked again with the same input, the answer in
 * `call.answer` and the conversation so far in `call.history`.
 */
export class Ask {
  /** The JSON Schema the answer's data must satisfy; undefined: any answer will do. */
  readonly answerSchema: JsonSchema | undefined;
  /** Structured data sent with the question, e.g. the choices offered. */
  readonly data: Record<string, unknown> | undefined;

  constructor(
    /** The question, sent as the reply's text. */
    readonly question: string,
    options: AskOptions = {},
  ) {
    this.answerSchema = answerSchemaOf(options.schema);
    this.data = options.data;
  }
}

export interface AskOptions {
  /** What the answer's data must be: a zod schema (the caller gets its JSON Schema) or a JSON
   * Schema; leave it out when any answer will do. Read the answer with `call.answerAs`. */
  schema?: z.ZodType | JsonSchema;
  /** Structured data to send with the question. */
  data?: Record<string, unknown>;
}

/**
 * Asks the caller a question instead of answering: return it from the handler of a skill declared
 * with `asksForInput: true` (from any other skill it is a bug, and the call fails INTERNAL).
 *
 *     if (call.answer === undefined) return ask("What is your budget?", { schema: Budget });
 *     const budget = call.answerAs(Budget);
 */
export function ask(question: string, options: AskOptions = {}): Ask {
  return new Ask(question, options);
}

export interface SkillSpec<In extends z.ZodType, Out extends z.ZodType | undefined> {
  id: string;
  name?: string;
  description: string;
  tags?: string[];
  input: In;
  /** The data's schema; leave it out for a skill that answers text only. */
  output?: Out;
  /** Whether the skill emits output as it goes (its card says so; InvokeStream works either way). */
  streams?: boolean;
  /** Valid inputs, shown in the agent card and used by the conformance kit. */
  examples?: z.input<In>[];
  /** Other spellings of input fields (alias → field), e.g. a content system's camelCase. */
  aliases?: Record<string, string>;
  /** Whether the handler may return `ask(...)`, a question, before it answers (its card says so). */
  asksForInput?: boolean;
  /** Whether the handler may answer `{ direct: true }` (its card says so: an A2A stream of the skill
   * then waits for the reply to know whether it is a Message or a task). */
  directReplies?: boolean;
}

export type Handler<In extends z.ZodType, Out extends z.ZodType | undefined> = (
  input: z.output<In>,
  call: Call,
) => Promise<Reply<Out extends z.ZodType ? z.input<Out> : never> | Ask>;

/** What a skill answered, its types erased: a reply, or a question when `inputRequired` is set. */
export interface SkillAnswer {
  text: string;
  data?: Record<string, unknown>;
  metadata: Record<string, unknown>;
  files: FilePart[];
  /** Set when the skill asked a question (`text`, `data`) instead of answering. */
  inputRequired?: { answerSchema?: JsonSchema };
  /** Set when the reply is a direct message (`Reply.direct`). */
  direct?: boolean;
}

/** A skill as the server sees it, its types erased. */
export interface RegisteredSkill {
  id: string;
  name: string;
  description: string;
  tags: string[];
  streams: boolean;
  asksForInput: boolean;
  directReplies: boolean;
  inputSchema: JsonSchema;
  outputSchema?: JsonSchema;
  examples: Record<string, unknown>[];
  /** Validates `data` as the skill's input and runs the handler. */
  invoke(data: Record<string, unknown>, call: Call): Promise<SkillAnswer>;
}

export interface AgentOptions {
  name: string;
  description?: string;
  version?: string;
  /** Where the agent listens unless --port says otherwise. */
  defaultPort?: number;
}

export class Agent {
  readonly name: string;
  readonly description: string;
  readonly version: string;
  readonly defaultPort: number;
  readonly skills: RegisteredSkill[] = [];
  readonly composers = new Map<string, Composer>();

  constructor(options: AgentOptions) {
    this.name = options.name;
    this.description = options.description ?? "";
    this.version = options.version ?? "0.1.0";
    this.defaultPort = options.defaultPort ?? 0;
  }

  /** Adds a skill. A duplicate id or an example that does not fit the input is a bug: it throws. */
  skill<In extends z.ZodType, Out extends z.ZodType | undefined = undefined>(spec: SkillSpec<In, Out>, handler: Handler<In, Out>): this {
    if (this.skills.some((s) => s.id === spec.id)) {
      throw new Error(`agent ${this.name} already has a skill ${spec.id}`);
    }
    const examples = (spec.examples ?? []).map((example, i) => {
      const parsed = spec.input.safeParse(example);
      if (!parsed.success) {
        throw new Error(`example ${i} of skill ${spec.id} does not fit its input: ${parsed.error.message}`);
      }
      return example as Record<string, unknown>;
    });
    const output = spec.output;
    const asksForInput = spec.asksForInput ?? false;
    const directReplies = spec.directReplies ?? false;
    this.skills.push({
      id: spec.id,
      name: spec.name ?? humanize(spec.id),
      description: spec.description,
      tags: spec.tags ?? [],
      streams: spec.streams ?? false,
      asksForInput,
      directReplies,
      inputSchema: jsonSchemaOf(spec.input, "input"),
      ...(output ? { outputSchema: jsonSchemaOf(output, "output") } : {}),
      examples,
      invoke: async (data, call) => {
        const input = decode(spec.input, withAliases(data, spec.aliases ?? {}), `input for skill "${spec.id}"`) as z.output<In>;
        const reply = await handler(input, call);
        if (reply instanceof Ask) {
          if (!asksForInput) {
            throw new Error(`skill "${spec.id}" asked a question but does not declare asksForInput: true`);
          }
          const { question, answerSchema, data } = reply;
          return {
            text: question,
            ...(data ? { data } : {}),
            metadata: {},
            files: [],
            inputRequired: answerSchema ? { answerSchema } : {},
          };
        }
        if (reply.direct && !directReplies) {
          // Its card would tell the gateway otherwise: an A2A stream, a task's by then, could not
          // give the reply as the Message it is.
          throw new Error(`skill "${spec.id}" replied directly but does not declare directReplies: true`);
        }
        const answered = output ? (output.parse(reply.data) as Record<string, unknown>) : undefined;
        const files = (reply.files ?? []).map((file, i) => checkFile(file, spec.id, i));
        return {
          text: reply.text ?? "",
          ...(answered ? { data: answered } : {}),
          metadata: reply.metadata ?? {},
          files,
          ...(reply.direct ? { direct: true } : {}),
        };
      },
    });
    return this;
  }

  /** How the offline provider answers a model task (by default a skill's id): data in, JSON out. */
  compose<In extends z.ZodType>(task: string, input: In, composer: (data: z.output<In>) => unknown): this {
    this.composers.set(task, (data) => composer(input.parse(data)));
    return this;
  }

  /** The skill a request names; an empty name picks the first skill. */
  find(id: string): RegisteredSkill {
    const first = this.skills[0];
    if (first === undefined) {
      throw unknownSkill(`agent "${this.name}" has no skills`);
    }
    if (!id) {
      return first;
    }
    const found = this.skills.find((s) => s.id === id);
    if (found === undefined) {
      const known = this.skills.map((s) => s.id).join(", ");
      throw unknownSkill(`agent "${this.name}" has no skill "${id}"; it has: ${known}`);
    }
    return found;
  }
}

/** A reply's file, checked where the handler's bug can be named: a plain object that is neither
 * bytes nor a URL would otherwise go out as an empty part. */
function checkFile(file: FilePart, skill: string, index: number): FilePart {
  const raw = "raw" in file && file.raw instanceof Uint8Array;
  const url = "url" in file && typeof file.url === "string";
  if (raw === url) {
    throw new Error(`skill "${skill}" replied with file ${index}, which needs exactly one of raw (a Uint8Array) or url (a string)`);
  }
  return file;
}

function unknownSkill(message: string): AgentError {
  return new AgentError(Status.INVALID_ARGUMENT, "UNKNOWN_SKILL", `skill: ${message}`, {}, [{ field: "skill", description: message }]);
}

function humanize(id: string): string {
  const words = id.replace(/[_-]/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}
