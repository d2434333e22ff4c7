// The form that creates a schedule: its name, the workflow (the latest version, or one pinned),
// a cron expression and an IANA time zone, what a tick does while the previous run is unfinished
// (overlap) and with ticks missed while no gateway ran (catch-up), and the workflow's inputs as a
// form made from them. The gateway's field violations are shown by the fields they name.

import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";

import { api, ApiError } from "../api";
import { usePolled } from "../hooks";
import { inputsSchema, SchemaForm } from "../schemaform";
import type { CatchUpPolicy, JsonObject, OverlapPolicy, Schedule } from "../types";

const OVERLAPS: [OverlapPolicy, string][] = [
  ["OVERLAP_POLICY_SKIP", "skip the tick"],
  ["OVERLAP_POLICY_ALLOW", "start another run"],
  ["OVERLAP_POLICY_CANCEL_PREVIOUS", "cancel the previous run"],
];

const CATCH_UPS: [CatchUpPolicy, string][] = [
  ["CATCH_UP_POLICY_ONE", "one run for the latest missed tick"],
  ["CATCH_UP_POLICY_NONE", "none"],
  ["CATCH_UP_POLICY_ALL", "every missed tick within a window"],
];

function zones(): string[] {
  try {
    return ["UTC", ...Intl.supportedValuesOf("timeZone").filter((zone) => zone !== "UTC")];
  } catch {
    return ["UTC"];
  }
}

function browserZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** "90s", "10m", "1h30m" as a ProtoJSON Duration ("5400s"); null when it is not one. */
export function durationJson(text: string): string | null {
  const match = /^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$/.exec(text);
  if (!match || text.trim() === "") return null;
  const [, h = "0", m = "0", s = "0"] = match;
  return `${Number(h) * 3600 + Number(m) * 60 + Number(s)}s`;
}

type Own = "name" | "workflowName" | "cron" | "timeZone" | "catchUpWindow";
const FIELD_NAMES: Record<string, Own> = {
  name: "name",
  workflow_name: "workflowName",
  workflowName: "workflowName",
  cron: "cron",
  time_zone: "timeZone",
  timeZone: "timeZone",
  catch_up_window: "catchUpWindow",
  catchUpWindow: "catchUpWindow",
};

/** A violation of the schedule's own fields (not of its inputs): which one. */
function ownField(field: string): Own | undefined {
  const bare = field.replace(/^schedule\./, "");
  return bare.includes(".") ? undefined : FIELD_NAMES[bare];
}

function Field({ id, label, error, hint, children }: { id: string; label: string; error: string | undefined; hint?: string; children: ComponentChildren }) {
  return (
    <div class="field">
      <label for={id}>
        {label}
        <span class="required"> (required)</span>
      </label>
      {children}
      {hint ? (
        <small id={`${id}-hint`} class="hint">
          {hint}
        </small>
      ) : null}
      {error ? (
        <small id={`${id}-error`} class="field-error">
          {label} {error}
        </small>
      ) : null}
    </div>
  );
}

export function ScheduleForm({ onCreated }: { onCreated: (schedule: Schedule) => void }) {
  const workflows = usePolled(() => api.listWorkflows(), "workflows");
  const [own, setOwn] = useState({ name: "", workflowName: "", cron: "", timeZone: browserZone(), catchUpWindow: "1h" });
  const [overlap, setOverlap] = useState<OverlapPolicy>("OVERLAP_POLICY_SKIP");
  const [catchUp, setCatchUp] = useState<CatchUpPolicy>("CATCH_UP_POLICY_ONE");
  const [errors, setErrors] = useState<Partial<Record<Own, string>>>({});
  const names = (workflows.data?.workflows ?? []).map((w) => w.name ?? "").filter(Boolean);
  const versions = workflows.data?.versions ?? [];
  const picked = own.workflowName || names[0] || "";
  const definition = usePolled((signal) => (picked ? api.getWorkflow(picked, signal) : Promise.resolve({ workflow: undefined })), `schedule-inputs:${picked}`);
  const inputs = definition.data?.workflow?.inputs ?? [];
  const set = (key: Own, value: string): void => {
    setOwn({ ...own, [key]: value });
  };
  const attrs = (key: Own, hint?: boolean) => ({
    id: `schedule-${key}`,
    "aria-invalid": errors[key] ? true : undefined,
    "aria-describedby": [hint ? `schedule-${key}-hint` : "", errors[key] ? `schedule-${key}-error` : ""].filter(Boolean).join(" ") || undefined,
  });
  return (
    <section class="panel create" aria-labelledby="create-title">
      <h2 id="create-title">Create a schedule</h2>
      <SchemaForm
        schema={inputsSchema(inputs)}
        idPrefix="schedule-input"
        submitLabel="Create schedule"
        busyLabel="Creating…"
        legend={`Inputs of ${picked}`}
        check={() => {
          const problems: Partial<Record<Own, string>> = {};
          if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(own.name.trim())) problems.name = "must be lower-kebab-case (a-z, 0-9 and -)";
          if (own.cron.trim().split(/\s+/).length !== 5) problems.cron = "must be five fields: minute hour day-of-month month day-of-week";
          if (catchUp === "CATCH_UP_POLICY_ALL" && durationJson(own.catchUpWindow) === null) problems.catchUpWindow = "must be a duration like 90s, 30m or 2h";
          setErrors(problems);
          return Object.keys(problems).length > 0 ? "Check the fields marked above." : "";
        }}
        onSubmit={async (value) => {
          const window = catchUp === "CATCH_UP_POLICY_ALL" ? durationJson(own.catchUpWindow) : null;
          const schedule: Partial<Schedule> = {
            name: own.name.trim(),
            workflowName: picked,
            cron: own.cron.trim().replace(/\s+/g, " "),
            timeZone: own.timeZone.trim() || "UTC",
            inputs: (value ?? {}) as JsonObject,
            overlap,
            catchUp,
          };
          if (window !== null) schedule.catchUpWindow = window;
          try {
            const { schedule: created } = await api.createSchedule(schedule);
            setOwn({ ...own, name: "" });
            if (created) onCreated(created);
          } catch (exc) {
            if (!(exc instanceof ApiError)) throw exc;
            // The schedule's own fields are marked here; the rest (its inputs) by the form.
            const mine: Partial<Record<Own, string>> = {};
            const rest = exc.violations.filter((v) => {
              const key = ownField(v.field);
              if (key) mine[key] = v.description;
              return key === undefined;
            });
            setErrors(mine);
            throw new ApiError(exc.status, exc.message, exc.code, exc.reason, rest);
          }
        }}
      >
        <div class="form-columns">
          <Field id="schedule-name" label="Name" error={errors.name} hint="lower-kebab-case, unique on the gateway">
            <input
              type="text"
              {...attrs("name", true)}
              autocomplete="off"
              value={own.name}
              onInput={(event) => {
                set("name", event.currentTarget.value);
              }}
            />
          </Field>
          <Field id="schedule-workflowName" label="Workflow" error={errors.workflowName} hint="the latest version when each run starts, or one pinned">
            <select
              {...attrs("workflowName", true)}
              value={picked}
              onChange={(event) => {
                set("workflowName", event.currentTarget.value);
              }}
            >
              {names.map((name) => (
                <optgroup key={name} label={name}>
                  <option value={name}>{name} (latest)</option>
                  {versions
                    .filter((v) => v.name === name && v.version)
                    .map((v) => (
                      <option key={v.version} value={`${name}@${v.version ?? ""}`}>
                        {name}@{v.version}
                      </option>
                    ))}
                </optgroup>
              ))}
            </select>
          </Field>
          <Field id="schedule-cron" label="Cron" error={errors.cron} hint="minute hour day-of-month month day-of-week, e.g. 0 8 * * MON">
            <input
              type="text"
              {...attrs("cron", true)}
              class="mono"
              autocomplete="off"
              spellcheck={false}
              placeholder="0 8 * * MON"
              value={own.cron}
              onInput={(event) => {
                set("cron", event.currentTarget.value);
              }}
            />
          </Field>
          <Field id="schedule-timeZone" label="Time zone" error={errors.timeZone} hint="an IANA name: Europe/Oslo, America/New_York, UTC">
            <input
              type="text"
              {...attrs("timeZone", true)}
              list="time-zones"
              autocomplete="off"
              value={own.timeZone}
              onInput={(event) => {
                set("timeZone", event.currentTarget.value);
              }}
            />
            <datalist id="time-zones">
              {zones().map((zone) => (
                <option key={zone} value={zone} />
              ))}
            </datalist>
          </Field>
          <div class="field">
            <label for="schedule-overlap">While the previous run is unfinished</label>
            <select
              id="schedule-overlap"
              value={overlap}
              onChange={(event) => {
                setOverlap(event.currentTarget.value as OverlapPolicy);
              }}
            >
              {OVERLAPS.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="schedule-catchUp">Ticks missed while no gateway ran</label>
            <select
              id="schedule-catchUp"
              value={catchUp}
              onChange={(event) => {
                setCatchUp(event.currentTarget.value as CatchUpPolicy);
              }}
            >
              {CATCH_UPS.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </div>
          {catchUp === "CATCH_UP_POLICY_ALL" ? (
            <Field id="schedule-catchUpWindow" label="Catch-up window" error={errors.catchUpWindow} hint="e.g. 90s, 30m, 2h">
              <input
                type="text"
                {...attrs("catchUpWindow", true)}
                value={own.catchUpWindow}
                onInput={(event) => {
                  set("catchUpWindow", event.currentTarget.value);
                }}
              />
            </Field>
          ) : null}
        </div>
      </SchemaForm>
    </section>
  );
}
