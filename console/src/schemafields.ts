// The parts of a form made from a JSON Schema that are not the form: its fields (nested objects
// flattened to dotted paths), their first values, and a field's text as the value its schema asks
// for. schemaform.tsx draws them.

import type { Json, JsonObject } from "./types";

export type Values = Record<string, string | boolean>;

export interface Field {
  path: string;
  name: string;
  label: string;
  schema: JsonObject;
  required: boolean;
  depth: number;
}

export function asObject(value: Json | undefined): JsonObject | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value : undefined;
}

export function typeOf(schema: JsonObject): string {
  const type = schema.type;
  if (typeof type === "string") return type;
  if (Array.isArray(type)) {
    const named = type.find((t) => typeof t === "string" && t !== "null");
    return typeof named === "string" ? named : "";
  }
  if (Array.isArray(schema.enum)) return "enum";
  return "";
}

export function fields(schema: JsonObject, prefix: string, depth: number): Field[] {
  const properties = asObject(schema.properties) ?? {};
  const required = new Set(Array.isArray(schema.required) ? schema.required.map(String) : []);
  const out: Field[] = [];
  for (const [name, raw] of Object.entries(properties)) {
    const child = asObject(raw) ?? {};
    const path = prefix ? `${prefix}.${name}` : name;
    const label = typeof child.title === "string" ? child.title : name;
    out.push({ path, name, label, schema: child, required: required.has(name), depth });
    if (typeOf(child) === "object" && asObject(child.properties) && depth < 4) out.push(...fields(child, path, depth + 1));
  }
  return out;
}

export function initial(list: Field[]): Values {
  const values: Values = {};
  for (const field of list) {
    const kind = typeOf(field.schema);
    const value = field.schema.default;
    if (kind === "object" && asObject(field.schema.properties)) continue;
    if (kind === "boolean") values[field.path] = value === true;
    else if (value === undefined) values[field.path] = "";
    else if (typeof value === "string") values[field.path] = value;
    else if (kind === "array" && Array.isArray(value) && value.every((v) => typeof v !== "object")) values[field.path] = value.join("\n");
    else values[field.path] = JSON.stringify(value);
  }
  return values;
}

/** The text a field holds, as the value the schema asks for; throws a message for the field. */
export function convert(field: Field, text: string): Json {
  const options = field.schema.enum;
  if (Array.isArray(options)) {
    const found = options.find((option) => (typeof option === "string" ? option : JSON.stringify(option)) === text);
    if (found !== undefined) return found;
  }
  const kind = typeOf(field.schema);
  switch (kind) {
    case "integer":
    case "number": {
      const value = Number(text);
      if (!Number.isFinite(value) || (kind === "integer" && !Number.isInteger(value))) throw new Error(`must be ${kind === "integer" ? "a whole number" : "a number"}`);
      return value;
    }
    case "array": {
      const items = asObject(field.schema.items) ?? {};
      const itemType = typeOf(items);
      if (text.trim().startsWith("[")) return parseJson(text);
      const lines = text.split("\n").map((line) => line.trim()).filter(Boolean);
      if (itemType === "integer" || itemType === "number") return lines.map(Number);
      return lines;
    }
    case "string":
    case "enum":
      return text;
    case "object":
    case "":
      if (kind === "" && !/^\s*[[{"\d\-tfn]/.test(text)) return text;
      try {
        return parseJson(text);
      } catch (exc) {
        if (kind === "") return text;
        throw exc;
      }
    default:
      return text;
  }
}

function parseJson(text: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch {
    throw new Error("is not valid JSON");
  }
}

export function setPath(target: JsonObject, path: string, value: Json): void {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = asObject(node[key]) ?? {};
    node[key] = next;
    node = next;
  }
  const last = keys[keys.length - 1];
  if (last !== undefined) node[last] = value;
}

/** A workflow's inputs as a schema: a field each, typed by its default value where it has one. */
export function inputsSchema(inputs: { name: string; description?: string; required?: boolean; defaultValue?: Json }[]): JsonObject {
  const properties: JsonObject = {};
  for (const input of inputs) {
    const schema: JsonObject = { title: input.name };
    if (input.description) schema.description = input.description;
    const value = input.defaultValue;
    if (value !== undefined) {
      schema.default = value;
      if (typeof value === "number") schema.type = Number.isInteger(value) ? "integer" : "number";
      else if (typeof value === "boolean") schema.type = "boolean";
      else if (typeof value === "string") schema.type = "string";
      else if (Array.isArray(value)) schema.type = "array";
      else if (value !== null) schema.type = "object";
    }
    properties[input.name] = schema;
  }
  return { type: "object", properties, required: inputs.filter((i) => i.required).map((i) => i.name) };
}
