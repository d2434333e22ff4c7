// The gateway's metrics sampled in the browser: /v1/metrics:watch (server-sent events) while a
// view that charts them is open, kept in memory for the session, so that latency percentiles,
// error rates, token counts and run outcomes can be drawn over time.

import { useEffect } from "preact/hooks";

import { follow } from "./sse";
import { Store, useStore } from "./store";
import type { Metrics } from "./types";

export interface Sample {
  /** Seconds since the epoch (uPlot's x). */
  t: number;
  metrics: Metrics;
}

const KEEP = 1800; // an hour at the 2 s interval
export const samples = new Store<Sample[]>([]);
export const metricsStatus = new Store<string>("connecting");
let users = 0;
let controller: AbortController | null = null;

function add(metrics: Metrics): void {
  const t = (metrics.time ? Date.parse(metrics.time) : Date.now()) / 1000;
  const list = samples.value;
  const last = list[list.length - 1];
  if (last && t <= last.t) return;
  const next = list.length >= KEEP ? list.slice(list.length - KEEP + 1) : list.slice();
  next.push({ t, metrics });
  samples.set(next);
}

function start(): void {
  controller = new AbortController();
  void follow({
    url: () => "/v1/metrics:watch?interval=2s",
    signal: controller.signal,
    finished: () => false,
    onStatus: (status, detail) => {
      metricsStatus.set(detail ? `${status}: ${detail}` : status);
    },
    onMessage: (message) => {
      if (message.event === "error") return;
      try {
        const body = JSON.parse(message.data) as { metrics?: Metrics } & Metrics;
        add(body.metrics ?? body);
      } catch {
        // a malformed sample is skipped
      }
    },
  });
}

/** The samples so far, following the gateway while the calling view is mounted. */
export function useMetrics(): Sample[] {
  useEffect(() => {
    users++;
    if (users === 1) start();
    return () => {
      users--;
      if (users === 0) {
        controller?.abort();
        controller = null;
      }
    };
  }, []);
  return useStore(samples);
}
