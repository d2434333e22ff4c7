// A form generated from a JSON Schema: the answer to an agent's question (its answer_schema),
// or a workflow's inputs (made into a schema by the workflow page). Strings, enums (a select),
// numbers and integers (with their bounds), booleans, lists, nested objects; anything else is a
// JSON field. The gateway checks the answer against the schema; its field violations are shown
// next to the fields they name.

import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";

import { ApiError, type FieldViolation } from "./api";
import { asObject, convert, type Field, fields, initial, setPath, typeOf, type Values } from "./schemafields";
import type { Json, JsonObject } from "./types";

export { inputsSchema } from "./schemafields";

interface Props {
  schema: JsonObject | undefined;
  idPrefix: string;
  submitLabel: string;
  /** Sends the value; an ApiError's field violations are shown by the fields. */
  onSubmit: (value: Json) => Promise<void>;
  busyLabel?: string;
  /** Fields of the caller's own, drawn before the schema's (a schedule's name, cron and so on). */
  children?: ComponentChildren;
  /** Fields of the schema under a heading, apart from the caller's own. */
  legend?: string;
  /** Checks the caller's own fields (marking them itself) with the schema's: what is wrong, or "". */
  check?: () => string;
}

function violationFor(field: Field, violations: FieldViolation[]): string {
  const found = violations.find((v) => v.field === field.path || v.field.endsWith(`.${field.path}`) || v.field.endsWith(`/${field.path.replaceAll(".", "/")}`));
  return found?.description ?? "";
}

export function SchemaForm({ schema, idPrefix, submitLabel, onSubmit, busyLabel = "Sending…", children, legend, check }: Props) {
  const structured = schema !== undefined && asObject(schema.properties) !== undefined;
  const list = structured ? fields(schema, "", 0) : [];
  const [values, setValues] = useState<Values>(() => (structured ? initial(list) : { "": "" }));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState("");
  const [busy, setBusy] = useState(false);
  // Another schema (another workflow picked): its fields start over.
  const shape = JSON.stringify(schema ?? null);
  const [shown, setShown] = useState(shape);
  useEffect(() => {
    if (shape === shown) return;
    setShown(shape);
    setValues(structured ? initial(list) : { "": "" });
    setErrors({});
    // `list` and `structured` follow from `shape`
  }, [shape]);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const outside = check?.() ?? "";
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
    setGeneral(outside);
    if (Object.keys(problems).length > 0 || outside) return;
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
      {children}
      {legend && list.length > 0 ? <h3 class="form-legend">{legend}</h3> : null}
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
