// Schedules: each one's workflow, cron expression and time zone, its next ticks, its last run and
// whether it is paused; for operators pause, resume, trigger and delete, and a form that creates
// one. A schedule's own page (/schedules/NAME) has all five next ticks and its inputs.

import { useEffect, useRef, useState } from "preact/hooks";

import { api } from "../api";
import { formatDateTime, formatDuration, formatTime, ms } from "../format";
import { useNow, usePolled } from "../hooks";
import { navigate } from "../router";
import type { Schedule } from "../types";
import { ScheduleForm } from "./scheduleform";
import { JsonBlock } from "./stepdetails";

const OVERLAP_WORDS: Record<string, string> = {
  OVERLAP_POLICY_ALLOW: "allow",
  OVERLAP_POLICY_CANCEL_PREVIOUS: "cancel previous",
};

const CATCH_UP_WORDS: Record<string, string> = {
  CATCH_UP_POLICY_NONE: "none",
  CATCH_UP_POLICY_ALL: "all",
};

async function allSchedules(signal: AbortSignal): Promise<Schedule[]> {
  const found: Schedule[] = [];
  let token = "";
  for (let page = 0; page < 20; page++) {
    const { schedules, nextPageToken } = await api.listSchedules(token, signal);
    found.push(...(schedules ?? []));
    if (!nextPageToken) break;
    token = nextPageToken;
  }
  return found;
}

function workflowLink(ref: string | undefined) {
  const [name = "", version] = (ref ?? "").split("@");
  const href = `/workflows/${encodeURIComponent(name)}${version ? `?version=${encodeURIComponent(version)}` : ""}`;
  return <a href={href}>{ref}</a>;
}

export function ScheduleState({ schedule }: { schedule: Schedule }) {
  return schedule.paused ? (
    <span class="badge tone-off" data-testid="schedule-state" title={schedule.pauseReason}>
      <span aria-hidden="true">∥</span> paused
    </span>
  ) : (
    <span class="badge tone-ok" data-testid="schedule-state">
      <span aria-hidden="true">◷</span> active
    </span>
  );
}

function NextTick({ schedule, now }: { schedule: Schedule; now: number }) {
  const next = schedule.nextFireTimes?.[0];
  const at = ms(next);
  if (schedule.paused || at === null) return <span class="muted">—</span>;
  return (
    <span title={(schedule.nextFireTimes ?? []).map(formatDateTime).join("\n")}>
      {formatDateTime(next)} <span class="muted small">(in {formatDuration(Math.max(at - now, 0))})</span>
    </span>
  );
}

function LastRun({ schedule }: { schedule: Schedule }) {
  if (!schedule.lastRunId) return <span class="muted">none yet</span>;
  return (
    <span>
      <a href={`/runs/${schedule.lastRunId}`} class="mono run-id" data-testid="last-run">
        {schedule.lastRunId.slice(0, 12)}…
      </a>
      {schedule.lastFireTime ? <span class="muted small"> {formatTime(schedule.lastFireTime)}</span> : null}
    </span>
  );
}

interface ActionProps {
  schedule: Schedule;
  /** After a change: the schedule as it is now, or null once deleted. */
  onChanged: (schedule: Schedule | null) => void;
  onNotice: (notice: Notice) => void;
}

export interface Notice {
  text: string;
  runId?: string;
  error?: boolean;
}

/** Pause or resume, trigger now, delete (after a confirmation); each button names its schedule. */
export function ScheduleActions({ schedule, onChanged, onNotice }: ActionProps) {
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const confirm = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (confirming) confirm.current?.focus();
  }, [confirming]);
  const name = schedule.name;
  // Busy buttons say so (aria-disabled) but stay focusable: a disabled one would drop the focus.
  const act = (work: () => Promise<void>): void => {
    if (busy) return;
    setBusy(true);
    work().then(
      () => {
        setBusy(false);
      },
      (exc: unknown) => {
        setBusy(false);
        onNotice({ text: exc instanceof Error ? exc.message : String(exc), error: true });
      },
    );
  };
  if (confirming) {
    return (
      <div class="confirm" role="group" aria-label={`confirm deleting ${name}`}>
        <span>Delete {name}? Its runs stay.</span>
        <button
          ref={confirm}
          type="button"
          class="danger"
          disabled={busy}
          onClick={() => {
            act(async () => {
              await api.deleteSchedule(name);
              setConfirming(false);
              onNotice({ text: `Schedule ${name} deleted.` });
              onChanged(null);
            });
          }}
        >
          Yes, delete it
        </button>
        <button
          type="button"
          onClick={() => {
            setConfirming(false);
          }}
        >
          Keep it
        </button>
      </div>
    );
  }
  return (
    <div class="row-actions">
      {schedule.paused ? (
        <button
          type="button"
          aria-label={`Resume ${name}`}
          aria-disabled={busy || undefined}
          onClick={() => {
            act(async () => {
              const { schedule: now } = await api.resumeSchedule(name);
              onNotice({ text: `Schedule ${name} resumed.` });
              onChanged(now ?? schedule);
            });
          }}
        >
          Resume
        </button>
      ) : (
        <button
          type="button"
          aria-label={`Pause ${name}`}
          aria-disabled={busy || undefined}
          onClick={() => {
            act(async () => {
              const { schedule: now } = await api.pauseSchedule(name, "paused from the console");
              onNotice({ text: `Schedule ${name} paused.` });
              onChanged(now ?? schedule);
            });
          }}
        >
          Pause
        </button>
      )}
      <button
        type="button"
        aria-label={`Trigger ${name} now`}
        aria-disabled={busy || undefined}
        onClick={() => {
          act(async () => {
            const { run } = await api.triggerSchedule(name);
            onNotice({ text: `Schedule ${name} started a run:`, runId: run?.runId });
            onChanged(schedule);
          });
        }}
      >
        Trigger now
      </button>
      <button
        type="button"
        class="danger"
        aria-label={`Delete ${name}`}
        aria-disabled={busy || undefined}
        onClick={() => {
          if (!busy) setConfirming(true);
        }}
      >
        Delete
      </button>
    </div>
  );
}

export function NoticeLine({ notice }: { notice: Notice | null }) {
  return (
    <p class={`notice${notice?.error ? " form-error" : ""}`} role="status" data-testid="notice">
      {notice?.text ?? ""}
      {notice?.runId ? (
        <>
          {" "}
          <a href={`/runs/${notice.runId}`} class="mono">
            {notice.runId}
          </a>
        </>
      ) : null}
    </p>
  );
}

export function SchedulesView({ canOperate }: { canOperate: boolean }) {
  const schedules = usePolled(allSchedules, "schedules", 5000);
  const now = useNow(1000);
  const [notice, setNotice] = useState<Notice | null>(null);
  const list = schedules.data ?? [];
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1}>
        Schedules
      </h1>
      {schedules.error ? (
        <p class="form-error" role="alert">
          {schedules.error}
        </p>
      ) : null}
      <NoticeLine notice={notice} />
      <div class="table-wrap">
        <table class="schedules" aria-busy={schedules.loading}>
          <caption class="sr-only">Schedules</caption>
          <thead>
            <tr>
              <th scope="col">Schedule</th>
              <th scope="col">Workflow</th>
              <th scope="col">When</th>
              <th scope="col">Next run</th>
              <th scope="col">Last run</th>
              <th scope="col">State</th>
              {canOperate ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {list.map((schedule) => (
              <tr key={schedule.name} data-schedule={schedule.name} data-paused={schedule.paused ? "true" : "false"}>
                <td data-label="Schedule">
                  <a href={`/schedules/${encodeURIComponent(schedule.name)}`}>{schedule.name}</a>
                </td>
                <td data-label="Workflow">{workflowLink(schedule.workflowName)}</td>
                <td data-label="When">
                  <code>{schedule.cron}</code> <span class="muted small">{schedule.timeZone || "UTC"}</span>
                </td>
                <td data-label="Next run">
                  <NextTick schedule={schedule} now={now} />
                </td>
                <td data-label="Last run">
                  <LastRun schedule={schedule} />
                </td>
                <td data-label="State">
                  <ScheduleState schedule={schedule} />
                </td>
                {canOperate ? (
                  <td data-label="Actions">
                    <ScheduleActions schedule={schedule} onChanged={schedules.reload} onNotice={setNotice} />
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
        {!schedules.loading && list.length === 0 ? <p class="muted empty">No schedules yet.</p> : null}
      </div>
      {canOperate ? (
        <ScheduleForm
          onCreated={(created) => {
            setNotice({ text: `Schedule ${created.name} created; next run ${formatDateTime(created.nextFireTimes?.[0])}.` });
            schedules.reload();
          }}
        />
      ) : null}
    </section>
  );
}

export function ScheduleView({ name, canOperate }: { name: string; canOperate: boolean }) {
  const found = usePolled((signal) => api.getSchedule(name, signal), `schedule:${name}`, 5000);
  const [notice, setNotice] = useState<Notice | null>(null);
  const schedule = found.data?.schedule;
  return (
    <section aria-labelledby="page-title">
      <p class="crumbs">
        <a href="/schedules">Schedules</a> /
      </p>
      <h1 id="page-title" tabIndex={-1}>
        {name}
      </h1>
      {found.error ? (
        <p class="form-error" role="alert">
          {found.error}
        </p>
      ) : null}
      <NoticeLine notice={notice} />
      {schedule ? (
        <div class="panel">
          <dl class="facts">
            <dt>State</dt>
            <dd>
              <ScheduleState schedule={schedule} />
              {schedule.paused && schedule.pauseReason ? <span class="muted"> {schedule.pauseReason}</span> : null}
            </dd>
            <dt>Workflow</dt>
            <dd>{workflowLink(schedule.workflowName)}</dd>
            <dt>When</dt>
            <dd>
              <code>{schedule.cron}</code> in {schedule.timeZone || "UTC"}
            </dd>
            <dt>Next runs</dt>
            <dd>
              {schedule.paused || (schedule.nextFireTimes ?? []).length === 0 ? (
                <span class="muted">none while paused</span>
              ) : (
                <ol class="ticks" data-testid="next-fire-times">
                  {(schedule.nextFireTimes ?? []).map((time) => (
                    <li key={time}>{formatDateTime(time)}</li>
                  ))}
                </ol>
              )}
            </dd>
            <dt>Last run</dt>
            <dd>
              <LastRun schedule={schedule} />
            </dd>
            <dt>Overlap</dt>
            <dd>{OVERLAP_WORDS[schedule.overlap ?? ""] ?? "skip"}</dd>
            <dt>Catch-up</dt>
            <dd>
              {CATCH_UP_WORDS[schedule.catchUp ?? ""] ?? "one"}
              {schedule.catchUp === "CATCH_UP_POLICY_ALL" ? ` within ${schedule.catchUpWindow ?? "1h"}` : ""}
            </dd>
            <dt>Created</dt>
            <dd>
              {formatDateTime(schedule.createTime)}
              {schedule.principal ? ` by ${schedule.principal} (its runs are theirs)` : ""}
            </dd>
          </dl>
          <h2>Inputs</h2>
          <JsonBlock value={schedule.inputs ?? {}} label={`inputs of ${name}`} />
          {canOperate ? (
            <ScheduleActions
              schedule={schedule}
              onNotice={setNotice}
              onChanged={(now) => {
                if (now === null) navigate("/schedules");
                else found.reload();
              }}
            />
          ) : null}
        </div>
      ) : null}
    </section>
  );
}
