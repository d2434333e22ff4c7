// A workflow as the YAML its file would hold: ProtoJSON's lowerCamel field names back to the
// protos' snake_case (workflow files use them), Struct-valued fields (a step's input, the
// outputs, a default value) left exactly as they are, then block-style YAML.

import type { Json, JsonObject, Workflow } from "./types";

const STRUCT_FIELDS = new Set(["input", "outputs", "default_value"]);

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function protoNames(value: Json, inStruct: boolean): Json {
  if (Array.isArray(value)) return value.map((v) => protoNames(v, inStruct));
  if (value === null || typeof value !== "object") return value;
  const out: JsonObject = {};
  for (const [key, child] of Object.entries(value)) {
    const name = inStruct ? key : snake(key);
    out[name] = protoNames(child, inStruct || STRUCT_FIELDS.has(name));
  }
  return out;
}

const PLAIN = /^[A-Za-z_./][\w .,/()+@-]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|~|y|n)$/i;

function scalar(value: string | number | boolean | null): string {
  if (value === null) return "null";
  if (typeof value !== "string") return String(value);
  if (value !== "" && PLAIN.test(value) && !RESERVED.test(value) && !value.endsWith(" ") && !value.includes(": ") && !value.includes(" #")) return value;
  return JSON.stringify(value); // a double-quoted YAML scalar is a JSON string
}

function emit(value: Json, indent: string, lines: string[], prefix: string): void {
  if (Array.isArray(value)) {
    if (value.length === 0) {
      lines.push(`${prefix}[]`);
      return;
    }
    if (prefix) lines.push(prefix.trimEnd());
    for (const item of value) {
      if (item !== null && typeof item === "object" && !Array.isArray(item) && Object.keys(item).length > 0) {
        const inner: string[] = [];
        emit(item, `${indent}  `, inner, "");
        const [head = "", ...rest] = inner;
        lines.push(`${indent}- ${head.trimStart()}`, ...rest);
      } else {
        emit(item, `${indent}  `, lines, `${indent}- `);
      }
    }
    return;
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value);
    if (entries.length === 0) {
      lines.push(`${prefix}{}`);
      return;
    }
    if (prefix) lines.push(prefix.trimEnd());
    for (const [key, child] of entries) {
      const name = PLAIN.test(key) && !RESERVED.test(key) ? key : JSON.stringify(key);
      const nested = child !== null && typeof child === "object" && (Array.isArray(child) ? child.length > 0 : Object.keys(child).length > 0);
      if (nested) emit(child, `${indent}  `, lines, `${indent}${name}:`);
      else emit(child, indent, lines, `${indent}${name}: `);
    }
    return;
  }
  if (typeof value === "string" && value.includes("\n")) {
    lines.push(`${prefix}|`.replace(/: \|$/, ": |"));
    for (const line of value.replace(/\n$/, "").split("\n")) lines.push(`${indent}  ${line}`);
    return;
  }
  lines.push(`${prefix}${scalar(value)}`);
}

export function toYaml(value: Json): string {
  const lines: string[] = [];
  emit(value, "", lines, "");
  return `${lines.join("\n")}\n`;
}

export function workflowYaml(workflow: Workflow): string {
  return toYaml(protoNames(workflow as unknown as Json, false));
}
