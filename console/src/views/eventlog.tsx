// The run's event log, numbered by sequence: it tails the run live, and after a dropped
// connection or a gateway restart it goes on from the last sequence it showed, so the numbers
// run without a gap. Virtualized: a run of thousands of events renders a screenful of rows.

import { useMemo, useState } from "preact/hooks";

import { clockTime } from "../format";
import { KIND_LABELS } from "../events";
import type { LogEntry, RunModel } from "../runmodel";
import type { StreamStatus } from "../sse";
import { VirtualList } from "../virtual";

const ROW = 26;

const STATUS_WORDS: Record<StreamStatus, string> = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  ended: "complete",
  failed: "stopped",
};

function tone(entry: LogEntry): string {
  switch (entry.kind) {
    case "stepFailed":
    case "runFailed":
      return "bad";
    case "stepRetrying":
    case "stepInputRequired":
    case "runWaiting":
      return "wait";
    case "stepSleeping":
      return "sleep";
    case "stepQueued":
      return "queue";
    case "stepCompleted":
    case "runCompleted":
      return "ok";
    default:
      return "";
  }
}

interface Props {
  model: RunModel;
  version: number;
  status: StreamStatus;
  statusDetail: string;
  selected?: string | undefined;
}

export function EventLog({ model, version, status, statusDetail, selected }: Props) {
  const [onlySelected, setOnlySelected] = useState(false);
  const [text, setText] = useState("");
  const filtering = (onlySelected && selected !== undefined) || text !== "";
  const entries = useMemo(() => {
    if (!filtering) return model.log;
    const needle = text.toLowerCase();
    return model.log.filter(
      (entry) =>
        (!onlySelected || selected === undefined || entry.stepId === selected) &&
        (needle === "" || `${entry.seq} ${KIND_LABELS[entry.kind]} ${entry.stepId} ${entry.summary}`.toLowerCase().includes(needle)),
    );
    // `version` is a dependency: the log grows in place.
  }, [model, version, filtering, onlySelected, selected, text]);
  const first = model.log[0]?.seq ?? 0;
  const gaps = model.missing.length;
  return (
    <div class="eventlog">
      <div class="log-bar">
        <p class="log-status" data-testid="log-status" aria-live="polite">
          <span class={`pill stream-${status}`}>{STATUS_WORDS[status]}</span>{" "}
          {model.log.length === 0 ? (
            "no events yet"
          ) : (
            <>
              {model.log.length} events, <span data-testid="log-range">#{first}–#{model.lastSeq}</span>,{" "}
              <span data-testid="log-gaps">{gaps === 0 ? "no gaps" : `${gaps} missing`}</span>
            </>
          )}
          {statusDetail ? ` · ${statusDetail}` : ""}
        </p>
        <label class="inline">
          <input
            type="checkbox"
            checked={onlySelected}
            disabled={selected === undefined}
            onChange={(event) => {
              setOnlySelected(event.currentTarget.checked);
            }}
          />{" "}
          only the selected step
        </label>
        <label class="inline">
          <span class="sr-only">Filter events</span>
          <input
            type="search"
            placeholder="filter events"
            value={text}
            onInput={(event) => {
              setText(event.currentTarget.value);
            }}
          />
        </label>
      </div>
      <div class="log-head" aria-hidden="true">
        <span class="seq">seq</span>
        <span class="time">time</span>
        <span class="kind">event</span>
        <span class="step">step</span>
        <span class="what">details</span>
      </div>
      <VirtualList
        count={entries.length}
        rowHeight={ROW}
        height="min(50vh, 420px)"
        follow={!filtering}
        version={version}
        label="run events"
        className="log-list"
        renderRow={(index) => {
          const entry = entries[index];
          if (!entry) return null;
          return (
            <div class={`log-row tone-${tone(entry)}`} data-seq={entry.seq}>
              <span class="seq">#{entry.seq}</span>
              <span class="time">{clockTime(entry.time)}</span>
              <span class="kind">{KIND_LABELS[entry.kind]}</span>
              <span class="step">{entry.stepId ? (entry.item === undefined ? entry.stepId : `${entry.stepId} [${entry.item}]`) : ""}</span>
              <span class="what" title={entry.summary}>
                {entry.summary}
              </span>
            </div>
          );
        }}
      />
    </div>
  );
}
