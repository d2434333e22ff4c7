// A form generated from a JSON Schema: the answer to an agent's question (its answer_schema),
// or a workflow's inputs (made into a schema by the workflow page). Strings, enums (a select),
// numbers and integers (with their bounds), booleans, lists, nested objects; anything else is a
// JSON field. The gateway checks the answer against the schema; its field violations are shown
// next to the fields they name.

import { useState } from "preact/hooks";

import { ApiError, type FieldViolation } from "./api";
import type { Json, JsonObject } from "./types";

type Values = Record<string, string | boolean>;

interface Field {
  path: string;
  name: string;
  label: string;
  schema: JsonObject;
  required: boolean;
  depth: number;
}

function asObject(value: Json | undefined): JsonObject | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value : undefined;
}

function typeOf(schema: JsonObject): string {
  const type = schema.type;
  if (typeof type === "string") return type;
  if (Array.isArray(type)) {
    const named = type.find((t) => typeof t === "string" && t !== "null");
    return typeof named === "string" ? named : "";
  }
  if (Array.isArray(schema.enum)) return "enum";
  return "";
}

function fields(schema: JsonObject, prefix: string, depth: number): Field[] {
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

function initial(list: Field[]): Values {
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
function convert(field: Field, text: string): Json {
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

function setPath(target: JsonObject, path: string, value: Json): void {
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

interface Props {
  schema: JsonObject | undefined;
  idPrefix: string;
  submitLabel: string;
  /** Sends the value; an ApiError's field violations are shown by the fields. */
  onSubmit: (value: Json) => Promise<void>;
  busyLabel?: string;
}

function violationFor(field: Field, violations: FieldViolation[]): string {
  const found = violations.find((v) => v.field === field.path || v.field.endsWith(`.${field.path}`) || v.field.endsWith(`/${field.path.replaceAll(".", "/")}`));
  return found?.description ?? "";
}

export function SchemaForm({ schema, idPrefix, submitLabel, onSubmit, busyLabel = "Sending…" }: Props) {
  const structured = schema !== undefined && asObject(schema.properties) !== undefined;
  const list = structured ? fields(schema, "", 0) : [];
  const [values, setValues] = useState<Values>(() => (structured ? initial(list) : { "": "" }));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState("");
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const problems: Record<string, string> = {};
    let value: Json;
    if (structured) {
      const out: JsonObject = {};
      for (const field of list) {
        const kind = typeOf(field.schema);
        if (kind === "object" && asObject(field.schema.properties)) continue;
        const raw = values[field.path];
        if (kind === "boolean") {
          setPath(out, field.path, raw === true);
          continue;
        }
        const text = typeof raw === "string" ? raw : "";
        if (text.trim() === "") {
          if (field.required) problems[field.path] = "is required";
          continue;
        }
        try {
          setPath(out, field.path, convert(field, text));
        } catch (exc) {
          problems[field.path] = exc instanceof Error ? exc.message : String(exc);
        }
      }
      value = out;
    } else {
      const text = values[""];
      value = typeof text === "string" ? convert({ path: "", name: "", label: "", schema: {}, required: false, depth: 0 }, text) : "";
    }
    setErrors(problems);
    setGeneral("");
    if (Object.keys(problems).length > 0) return;
    setBusy(true);
    try {
      await onSubmit(value);
    } catch (exc) {
      if (exc instanceof ApiError) {
        const byField: Record<string, string> = {};
        const unplaced: string[] = [];
        for (const violation of exc.violations) {
          const field = list.find((f) => violationFor(f, [violation]));
          if (field) byField[field.path] = violation.description;
          else unplaced.push(`${violation.field}: ${violation.description}`);
        }
        setErrors(byField);
        setGeneral([exc.message, ...unplaced].join(" · "));
      } else {
        setGeneral(exc instanceof Error ? exc.message : String(exc));
      }
    } finally {
      setBusy(false);
    }
  };

  const id = (path: string): string => `${idPrefix}-${path.replaceAll(".", "-") || "value"}`;
  return (
    <form
      class="schema-form"
      noValidate
      onSubmit={(event) => {
        void submit(event);
      }}
    >
      {structured ? (
        list.map((field) => {
          const kind = typeOf(field.schema);
          const fieldId = id(field.path);
          const hint = typeof field.schema.description === "string" ? field.schema.description : "";
          const error = errors[field.path] ?? "";
          const describedBy = [hint ? `${fieldId}-hint` : "", error ? `${fieldId}-error` : ""].filter(Boolean).join(" ") || undefined;
          const label = (
            <>
              {field.label}
              {field.required ? <span class="required"> (required)</span> : null}
            </>
          );
          const common = {
            id: fieldId,
            name: field.path,
            "aria-describedby": describedBy,
            "aria-invalid": error ? true : undefined,
            "aria-required": field.required || undefined,
          };
          const text = typeof values[field.path] === "string" ? (values[field.path] as string) : "";
          const update = (value: string | boolean): void => {
            setValues({ ...values, [field.path]: value });
          };
          let control;
          if (kind === "object" && asObject(field.schema.properties)) {
            return (
              <p key={field.path} class="form-group" style={{ marginLeft: `${field.depth}rem` }}>
                <strong>{label}</strong>
                {hint ? <span class="hint"> {hint}</span> : null}
              </p>
            );
          } else if (kind === "boolean") {
            return (
              <div key={field.path} class="field check" style={{ marginLeft: `${field.depth}rem` }}>
                <input
                  type="checkbox"
                  {...common}
                  checked={values[field.path] === true}
                  onChange={(event) => {
                    update(event.currentTarget.checked);
                  }}
                />
                <label for={fieldId}>{label}</label>
                {hint ? <small id={`${fieldId}-hint`} class="hint">{hint}</small> : null}
                {error ? <small id={`${fieldId}-error`} class="field-error">{field.label} {error}</small> : null}
              </div>
            );
          } else if (Array.isArray(field.schema.enum)) {
            control = (
              <select
                {...common}
                value={text}
                onChange={(event) => {
                  update(event.currentTarget.value);
                }}
              >
                <option value="">—</option>
                {field.schema.enum.map((option) => {
                  const value = typeof option === "string" ? option : JSON.stringify(option);
                  return (
                    <option key={value} value={value}>
                      {value}
                    </option>
                  );
                })}
              </select>
            );
          } else if (kind === "integer" || kind === "number") {
            control = (
              <input
                type="number"
                inputMode={kind === "integer" ? "numeric" : "decimal"}
                step={kind === "integer" ? 1 : "any"}
                min={typeof field.schema.minimum === "number" ? field.schema.minimum : undefined}
                max={typeof field.schema.maximum === "number" ? field.schema.maximum : undefined}
                {...common}
                value={text}
                onInput={(event) => {
                  update(event.currentTarget.value);
                }}
              />
            );
          } else if (kind === "" || (kind === "string" && !(typeof field.schema.maxLength === "number" && field.schema.maxLength > 200))) {
            control = (
              <input
                type="text"
                {...common}
                value={text}
                minLength={typeof field.schema.minLength === "number" ? field.schema.minLength : undefined}
                maxLength={typeof field.schema.maxLength === "number" ? field.schema.maxLength : undefined}
                onInput={(event) => {
                  update(event.currentTarget.value);
                }}
              />
            );
            if (kind === "") {
              control = (
                <>
                  {control}
                  <small class="hint">text, or JSON (a number, a [list], an {"{object}"})</small>
                </>
              );
            }
          } else {
            const note = kind === "array" ? "one item a line, or a JSON list" : "JSON";
            control = (
              <>
                <textarea
                  rows={3}
                  {...common}
                  value={text}
                  onInput={(event) => {
                    update(event.currentTarget.value);
                  }}
                />
                <small class="hint">{note}</small>
              </>
            );
          }
          return (
            <div key={field.path} class="field" style={{ marginLeft: `${field.depth}rem` }}>
              <label for={fieldId}>{label}</label>
              {control}
              {hint ? <small id={`${fieldId}-hint`} class="hint">{hint}</small> : null}
              {error ? <small id={`${fieldId}-error`} class="field-error">{field.label} {error}</small> : null}
            </div>
          );
        })
      ) : (
        <div class="field">
          <label for={id("")}>Answer</label>
          <textarea
            id={id("")}
            rows={3}
            value={typeof values[""] === "string" ? values[""] : ""}
            onInput={(event) => {
              setValues({ "": event.currentTarget.value });
            }}
          />
          <small class="hint">text, or JSON</small>
        </div>
      )}
      {general ? (
        <p class="form-error" role="alert">
          {general}
        </p>
      ) : null}
      <button type="submit" class="primary" disabled={busy}>
        {busy ? busyLabel : submitLabel}
      </button>
    </form>
  );
}
