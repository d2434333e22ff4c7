// Server-sent events over fetch: EventSource cannot send an Authorization header, and its
// reconnection is the browser's, not ours. This reader is the WHATWG parsing rules (fields,
// comments, `id`, `retry`, CR/LF/CRLF line ends) over a fetch stream, plus what a console
// needs around it: resume after the last event seen (the caller builds the URL from it and
// it also goes as Last-Event-ID), reconnect with backoff after a dropped connection or a
// gateway restart, a watchdog for a connection that went silent, and a clean stop.
//
// Why not @microsoft/fetch-event-source: its last release is from 2021, it reconnects on its
// own schedule (and by default closes and reopens on tab visibility changes), and resuming
// from a sequence we keep ourselves is the one thing this code must get exactly right; the
// whole reader is this file.

import { headers, problem, unauthenticated } from "./api";

export interface SseMessage {
  id: string;
  event: string;
  data: string;
}

/** Splits a byte stream's text into messages. */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  lastId = "";
  retry: number | null = null;

  constructor(private readonly emit: (message: SseMessage) => void) {}

  push(text: string, final = false): void {
    this.buffer += text;
    let start = 0;
    for (;;) {
      let end = -1;
      for (let i = start; i < this.buffer.length; i++) {
        const c = this.buffer.charCodeAt(i);
        if (c === 10 || c === 13) {
          end = i;
          break;
        }
      }
      if (end < 0) break;
      // A CR that ends the buffer may be the first half of a CRLF still on its way.
      if (this.buffer.charCodeAt(end) === 13 && end === this.buffer.length - 1 && !final) break;
      this.line(this.buffer.slice(start, end));
      start = end + (this.buffer.charCodeAt(end) === 13 && this.buffer.charCodeAt(end + 1) === 10 ? 2 : 1);
    }
    this.buffer = this.buffer.slice(start);
  }

  private line(line: string): void {
    if (line === "") {
      if (this.data.length > 0) {
        this.emit({ id: this.lastId, event: this.event || "message", data: this.data.join("\n") });
      }
      this.data = [];
      this.event = "";
      return;
    }
    if (line.startsWith(":")) return; // a comment: the server's heartbeat
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "id" && !value.includes("\0")) this.lastId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
  }
}

export type StreamStatus = "connecting" | "live" | "reconnecting" | "ended" | "failed";

export interface FollowOptions {
  /** The URL to (re)connect to, given the id of the last event received ("" at first). */
  url: (lastId: string) => string;
  onMessage: (message: SseMessage) => void;
  onStatus?: (status: StreamStatus, detail?: string) => void;
  /** Whether a stream that ended normally is over for good (the run ended) or must resume. */
  finished?: () => boolean;
  signal: AbortSignal;
  /** The id to resume after, when the caller already has the events up to it. */
  lastId?: string;
  /** A connection that sends nothing (not even a heartbeat comment) for this long is dropped. */
  silenceMs?: number;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });

/** Follows an SSE endpoint until `finished()` says it is over, the server refuses it, or `signal` aborts. */
export async function follow(options: FollowOptions): Promise<void> {
  const { signal } = options;
  const status = options.onStatus ?? (() => undefined);
  const stopped = (): boolean => signal.aborted;
  let lastId = options.lastId ?? "";
  let backoff = 250;
  let attempt = 0;
  while (!signal.aborted) {
    status(attempt === 0 ? "connecting" : "reconnecting");
    attempt++;
    const connection = new AbortController();
    const abort = (): void => {
      connection.abort();
    };
    signal.addEventListener("abort", abort, { once: true });
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const quiet = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(abort, options.silenceMs ?? 45_000);
    };
    let serverRetry: number | null = null;
    try {
      const extra: Record<string, string> = { Accept: "text/event-stream" };
      if (lastId) extra["Last-Event-ID"] = lastId;
      quiet();
      const response = await fetch(options.url(lastId), { headers: headers(extra), signal: connection.signal, cache: "no-store" });
      if (!response.ok || response.body === null) {
        const error = await problem(response);
        // 4xx other than a timeout or a rate limit will not get better by asking again.
        if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
          if (response.status === 401) unauthenticated();
          status("failed", error.message);
          return;
        }
        throw error;
      }
      status("live");
      const parser = new SseParser((message) => {
        if (message.id) lastId = message.id;
        backoff = 250;
        options.onMessage(message);
      });
      parser.lastId = lastId;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        quiet();
        if (done) {
          parser.push("", true);
          break;
        }
        parser.push(value);
      }
      serverRetry = parser.retry;
      if (options.finished?.() ?? true) {
        status("ended");
        return;
      }
    } catch {
      // Dropped, refused, or the watchdog fired: try again below, after the last event seen.
    } finally {
      clearTimeout(watchdog);
      signal.removeEventListener("abort", abort);
    }
    if (stopped()) return;
    status("reconnecting");
    await sleep(serverRetry ?? backoff, signal);
    backoff = Math.min(backoff * 2, 5_000);
  }
}
