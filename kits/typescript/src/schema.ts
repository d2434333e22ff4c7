// A skill's input and output shapes are zod schemas: the JSON Schema in the agent card comes from
// them (z.toJSONSchema), and so does validation, whose issues become BadRequest field violations.
import { status as Status } from "@grpc/grpc-js";
import { z } from "zod";

import { AgentError, type FieldViolation, invalidInput } from "./errors.js";

export type JsonSchema = Record<string, unknown>;

// Each schema's JSON Schema, made once: generateJSON asks for one on every model call.
const documents = { input: new WeakMap<z.ZodType, JsonSchema>(), output: new WeakMap<z.ZodType, JsonSchema>() };

/** The JSON Schema of what a caller may send (`io: "input"`: fields with defaults are optional)
 * or of what comes back (`io: "output"`). */
export function jsonSchemaOf(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  let document = documents[io].get(schema);
  if (document === undefined) {
    document = z.toJSONSchema(schema, { io, unrepresentable: "any" });
    delete document.$schema;
    documents[io].set(schema, document);
  }
  return document;
}

/** Parses `value` with `schema`, or throws INVALID_ARGUMENT naming every offending field. */
export function decode<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) {
    return parsed.data;
  }
  const violations = parsed.error.issues.map(violationOf);
  const fields = [...new Set(violations.map((v) => v.field || "(input)"))].join(", ");
  throw invalidInput(`${what} is invalid: ${fields}`, violations);
}

/** Parses the answer to a skill's question with `schema`, or throws INVALID_ARGUMENT with reason
 * INVALID_ANSWER naming every offending field as `answer.<path>`. */
export function decodeAnswer<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) {
    return parsed.data;
  }
  const violations = parsed.error.issues.map(violationOf).map((v) => ({ ...v, field: v.field ? `answer.${v.field}` : "answer" }));
  const summary = violations.map((v) => `${v.field}: ${v.description}`).join("; ");
  throw new AgentError(Status.INVALID_ARGUMENT, "INVALID_ANSWER", `the answer does not fit: ${summary}`, {}, violations);
}

/** The JSON Schema a question's answer must satisfy: a zod schema's (what a caller may send), or
 * a JSON Schema as it is; undefined when any answer will do. */
export function answerSchemaOf(schema: z.ZodType | JsonSchema | undefined): JsonSchema | undefined {
  if (schema === undefined) {
    return undefined;
  }
  const document = schema instanceof z.ZodType ? jsonSchemaOf(schema, "input") : schema;
  return Object.keys(document).length > 0 ? document : undefined;
}

function violationOf(issue: z.core.$ZodIssue): FieldViolation {
  const path = issue.path.map(String);
  if (issue.code === "unrecognized_keys") {
    return { field: [...path, issue.keys[0] ?? ""].filter(Boolean).join("."), description: "not a field of this input" };
  }
  if (issue.code === "invalid_type" && issue.input === undefined) {
    return { field: path.join("."), description: "required" };
  }
  return { field: path.join("."), description: issue.message };
}

/** `data` with each alias renamed to its field, unless the field itself was given. */
export function withAliases(data: Record<string, unknown>, aliases: Readonly<Record<string, string>>): Record<string, unknown> {
  const renamed: Record<string, unknown> = { ...data };
  for (const [alias, field] of Object.entries(aliases)) {
    if (alias in renamed) {
      if (!(field in renamed)) {
        renamed[field] = renamed[alias];
      }
      Reflect.deleteProperty(renamed, alias);
    }
  }
  return renamed;
}
