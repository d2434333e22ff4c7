// The run's timeline (a Gantt chart): a row per step and per for_each item, a bar per attempt,
// hatched gaps for retry delays, dotted ones for waits on an answer, a band for a sleep, a striped
// one for a wait in an agent's queue, and a bar for a child run. Rows are virtualized.

import { useEffect, useRef, useState } from "preact/hooks";

import { formatDuration } from "../format";
import type { RunModel, Segment } from "../runmodel";
import { VirtualList } from "../virtual";

const ROW = 24;

const SEGMENT_WORDS: Record<Segment["outcome"], string> = {
  running: "running",
  ok: "succeeded",
  failed: "failed",
  retried: "failed, retried",
  asked: "asked a question",
  cancelled: "cancelled",
  waiting: "waiting",
  skipped: "skipped",
};

function describe(segment: Segment, now: number): string {
  const length = formatDuration((segment.end ?? now) - segment.start);
  switch (segment.kind) {
    case "attempt":
      return `attempt ${segment.attempt}: ${SEGMENT_WORDS[segment.outcome]}, ${length}`;
    case "retry":
      return `waiting ${length} to retry after attempt ${segment.attempt}`;
    case "input":
      return `waiting ${length} for an answer`;
    case "skip":
      return "skipped";
    case "sleep":
      return `sleeping ${length}`;
    case "queue":
      return `queued ${length} for the agent's ${segment.note === "rate" ? "rate limit" : segment.note ? `${segment.note} limit` : "limits"}`;
    case "child":
      return `child run: ${SEGMENT_WORDS[segment.outcome]}, ${length}`;
  }
}

interface Props {
  model: RunModel;
  version: number;
  selected?: string | undefined;
  onSelect: (stepId: string) => void;
}

export function Timeline({ model, selected, onSelect }: Props) {
  const [now, setNow] = useState(Date.now());
  const live = !model.final;
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(() => {
      setNow(Date.now());
    }, 500);
    return () => {
      clearInterval(timer);
    };
  }, [live]);
  const bars = useRef<HTMLDivElement>(null);
  const rows = model.timelineRows;
  const start = model.start ?? rows[0]?.segments[0]?.start ?? now;
  const end = Math.max(model.end ?? now, start + 1);
  const span = end - start;
  const pct = (time: number): number => ((time - start) / span) * 100;
  if (rows.length === 0) return <p class="muted">No step has started yet.</p>;
  // The legend names the newer kinds of bar only when the run has them.
  const kinds = new Set(rows.flatMap((row) => row.segments.map((segment) => segment.kind)));
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => ({ f, label: formatDuration(span * f) }));
  return (
    <div class="timeline" ref={bars}>
      <div class="tl-axis" aria-hidden="true">
        <span class="tl-label" />
        <span class="tl-track">
          {ticks.map((tick) => (
            <span key={tick.f} class="tl-tick" style={{ left: `${tick.f * 100}%` }}>
              {tick.label}
            </span>
          ))}
        </span>
      </div>
      <VirtualList
        count={rows.length}
        rowHeight={ROW}
        height={`${Math.min(rows.length * ROW + 4, 360)}px`}
        label="timeline of steps"
        renderRow={(index) => {
          const row = rows[index];
          if (!row) return null;
          const words = row.segments.map((segment) => describe(segment, now)).join("; ");
          const name = row.item === undefined ? row.stepId : `${row.stepId} [${row.item}]`;
          return (
            <div class={`tl-row${selected === row.stepId ? " selected" : ""}${row.item !== undefined ? " item" : ""}`}>
              <button
                type="button"
                class="tl-label linkish"
                onClick={() => {
                  onSelect(row.stepId);
                }}
                title={name}
              >
                {name}
              </button>
              <span class="tl-track">
                {row.segments.map((segment, i) => {
                  const left = pct(segment.start);
                  const width = Math.max(pct(segment.end ?? now) - left, 0.4);
                  return (
                    <span
                      key={i}
                      class={`tl-seg kind-${segment.kind} out-${segment.outcome}`}
                      style={{ left: `${left}%`, width: `${width}%` }}
                      title={describe(segment, now)}
                    />
                  );
                })}
                <span class="sr-only">{words}</span>
              </span>
            </div>
          );
        }}
      />
      <p class="legend" aria-hidden="true">
        <span class="tl-seg kind-attempt out-ok" /> attempt succeeded <span class="tl-seg kind-attempt out-running" /> running{" "}
        <span class="tl-seg kind-attempt out-retried" /> failed, retried <span class="tl-seg kind-attempt out-failed" /> failed{" "}
        <span class="tl-seg kind-retry out-waiting" /> retry delay <span class="tl-seg kind-input out-waiting" /> waiting for an answer{" "}
        {kinds.has("sleep") ? (
          <>
            <span class="tl-seg kind-sleep out-waiting" /> sleeping{" "}
          </>
        ) : null}
        {kinds.has("queue") ? (
          <>
            <span class="tl-seg kind-queue out-waiting" /> queued for a limit{" "}
          </>
        ) : null}
        {kinds.has("child") ? (
          <>
            <span class="tl-seg kind-child out-ok" /> child run
          </>
        ) : null}
      </p>
    </div>
  );
}
