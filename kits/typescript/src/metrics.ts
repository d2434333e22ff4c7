// Prometheus metrics, named as in every agentmesh runtime: go-grpc-prometheus's gRPC server
// series (grpc_server_handled_total{grpc_service, grpc_method, grpc_code}, ...) and
// agentmesh_llm_tokens_total{provider, kind}, with the process's own figures (process_*,
// nodejs_*, prom-client's names). Served only when --metrics-port asks for an endpoint.
//
// The kit writes the text format itself: four series and a dozen gauges are a few maps, while
// prom-client, with the OpenTelemetry API its default metrics load (85 modules), cost about 3 MB
// of every agent that serves metrics, which `agentmesh up` gives them all (BENCHMARKS.md, p6).
import { readdir, readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { status as Status } from "@grpc/grpc-js";

import type { Logger } from "./log.js";

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** The text format's version, as Prometheus asks for it. */
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface Metrics {
  /** An RPC began: its type ("unary" or "server_stream"), service and method. */
  started(type: string, service: string, method: string): void;
  /** An RPC ended with `code` after `seconds`. */
  handled(type: string, service: string, method: string, code: number, seconds: number): void;
  tokens(provider: string, prompt: number, output: number): void;
}

/** A counter or gauge family: one value per set of label values. */
class Family {
  private readonly values = new Map<string, { labels: readonly string[]; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge",
    readonly labelNames: readonly string[] = [],
  ) {}

  add(labels: readonly string[], by: number): void {
    const key = labels.join("\0");
    const found = this.values.get(key);
    if (found === undefined) {
      this.values.set(key, { labels, value: by });
    } else {
      found.value += by;
    }
  }

  render(lines: string[]): void {
    header(lines, this.name, this.help, this.type);
    for (const { labels, value } of this.values.values()) {
      lines.push(`${this.name}${labelText(this.labelNames, labels)} ${number(value)}`);
    }
  }
}

/** A histogram family with fixed buckets. */
class Histogram {
  private readonly series = new Map<string, { labels: readonly string[]; counts: number[]; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly buckets: readonly number[],
  ) {}

  observe(labels: readonly string[], value: number): void {
    const key = labels.join("\0");
    let found = this.series.get(key);
    if (found === undefined) {
      found = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, found);
    }
    const index = this.buckets.findIndex((bound) => value <= bound);
    if (index >= 0) {
      found.counts[index] = (found.counts[index] ?? 0) + 1;
    }
    found.sum += value;
    found.count += 1;
  }

  render(lines: string[]): void {
    header(lines, this.name, this.help, "histogram");
    const names = [...this.labelNames, "le"];
    for (const { labels, counts, sum, count } of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += counts[i] ?? 0;
        lines.push(`${this.name}_bucket${labelText(names, [...labels, number(bound)])} ${cumulative}`);
      });
      lines.push(`${this.name}_bucket${labelText(names, [...labels, "+Inf"])} ${count}`);
      lines.push(`${this.name}_sum${labelText(this.labelNames, labels)} ${number(sum)}`);
      lines.push(`${this.name}_count${labelText(this.labelNames, labels)} ${count}`);
    }
  }
}

function header(lines: string[], name: string, help: string, type: string): void {
  lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${name} ${type}`);
}

function labelText(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) {
    return "";
  }
  const pairs = names.map((name, i) => `${name}="${(values[i] ?? "").replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`);
  return `{${pairs.join(",")}}`;
}

function number(value: number): string {
  if (Number.isNaN(value)) {
    return "NaN";
  }
  if (!Number.isFinite(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  return String(value);
}

/** The gRPC and token series, and the text of every family on a scrape. */
export class Registry implements Metrics {
  private readonly startedTotal = new Family("grpc_server_started_total", "RPCs started on the server.", "counter", ["grpc_type", "grpc_service", "grpc_method"]);
  private readonly handledTotal = new Family("grpc_server_handled_total", "RPCs completed on the server, by status code.", "counter", [
    "grpc_type",
    "grpc_service",
    "grpc_method",
    "grpc_code",
  ]);
  private readonly handling = new Histogram(
    "grpc_server_handling_seconds",
    "Time from an RPC's start to its status, on the server.",
    ["grpc_type", "grpc_service", "grpc_method"],
    BUCKETS,
  );
  private readonly tokensTotal = new Family("agentmesh_llm_tokens_total", "Tokens an LLM provider reported, by provider and kind (prompt or output).", "counter", [
    "provider",
    "kind",
  ]);

  started(type: string, service: string, method: string): void {
    this.startedTotal.add([type, service, method], 1);
  }

  handled(type: string, service: string, method: string, code: number, seconds: number): void {
    this.handledTotal.add([type, service, method, codeLabel(code)], 1);
    this.handling.observe([type, service, method], seconds);
  }

  tokens(provider: string, prompt: number, output: number): void {
    if (prompt > 0) this.tokensTotal.add([provider, "prompt"], prompt);
    if (output > 0) this.tokensTotal.add([provider, "output"], output);
  }

  /** Every family in the text exposition format, the process's figures read now. */
  async text(): Promise<string> {
    const lines: string[] = [];
    for (const family of await processFamilies()) {
      family.render(lines);
    }
    this.startedTotal.render(lines);
    this.handledTotal.render(lines);
    this.handling.render(lines);
    this.tokensTotal.render(lines);
    return lines.join("\n") + "\n";
  }
}

/** The process's figures under prom-client's default names (those a scrape can read cheaply). */
async function processFamilies(): Promise<Family[]> {
  const gauge = (name: string, help: string, value: number | undefined, labels: Record<string, string> = {}): Family | undefined => {
    if (value === undefined) {
      return undefined;
    }
    const family = new Family(name, help, "gauge", Object.keys(labels));
    family.add(Object.values(labels), value);
    return family;
  };
  const counter = (name: string, help: string, value: number): Family => {
    const family = new Family(name, help, "counter");
    family.add([], value);
    return family;
  };
  const lag = await eventLoopLag();
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  const status = await procStatus();
  const [major, minor, patch] = process.versions.node.split(".");
  const families = [
    counter("process_cpu_user_seconds_total", "Total user CPU time spent in seconds.", cpu.user / 1e6),
    counter("process_cpu_system_seconds_total", "Total system CPU time spent in seconds.", cpu.system / 1e6),
    counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", (cpu.user + cpu.system) / 1e6),
    gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", Math.round(performance.timeOrigin / 1000)),
    gauge("process_resident_memory_bytes", "Resident memory size in bytes.", memory.rss),
    gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", status.VmSize),
    gauge("process_heap_bytes", "Process heap size in bytes.", status.VmData),
    gauge("process_open_fds", "Number of open file descriptors.", await openFds()),
    gauge("process_max_fds", "Maximum number of open file descriptors.", await maxFds()),
    gauge("nodejs_eventloop_lag_seconds", "Lag of event loop in seconds.", lag),
    gauge("nodejs_active_resources_total", "Total number of active resources.", process.getActiveResourcesInfo().length),
    gauge("nodejs_heap_size_total_bytes", "Process heap size from Node.js in bytes.", memory.heapTotal),
    gauge("nodejs_heap_size_used_bytes", "Process heap size used from Node.js in bytes.", memory.heapUsed),
    gauge("nodejs_external_memory_bytes", "Node.js external memory size in bytes.", memory.external),
    gauge("nodejs_version_info", "Node.js version info.", 1, { version: process.version, major: major ?? "", minor: minor ?? "", patch: patch ?? "" }),
  ];
  return families.filter((family) => family !== undefined);
}

/** How late a callback queued now runs: how long other work holds the event loop. */
function eventLoopLag(): Promise<number> {
  const queued = process.hrtime.bigint();
  return new Promise((resolve) => {
    setImmediate(() => {
      resolve(Number(process.hrtime.bigint() - queued) / 1e9);
    });
  });
}

/** /proc/self/status's sizes in bytes (Linux; none elsewhere). */
async function procStatus(): Promise<Record<string, number | undefined>> {
  const sizes: Record<string, number> = {};
  try {
    for (const line of (await readFile("/proc/self/status", "utf8")).split("\n")) {
      const found = /^(Vm\w+):\s+(\d+) kB/.exec(line);
      if (found?.[1] !== undefined && found[2] !== undefined) {
        sizes[found[1]] = Number(found[2]) * 1024;
      }
    }
  } catch {
    // not Linux: these gauges are left out
  }
  return sizes;
}

async function openFds(): Promise<number | undefined> {
  try {
    return (await readdir("/proc/self/fd")).length - 1; // less the one reading the directory
  } catch {
    return undefined;
  }
}

async function maxFds(): Promise<number | undefined> {
  try {
    const found = /^Max open files\s+(\d+)/m.exec(await readFile("/proc/self/limits", "utf8"));
    return found?.[1] === undefined ? undefined : Number(found[1]);
  } catch {
    return undefined;
  }
}

/** The metrics, and an HTTP server for /metrics on host:port (0 picks one); resolves once listening. */
export async function serveMetrics(
  host: string,
  port: number,
  log: Logger,
  ready: () => boolean = () => true,
): Promise<{ metrics: Metrics; server: Server; port: number }> {
  const registry = new Registry();
  // The same port answers /healthz and /readyz (503 once the server drains): HTTP probes for a
  // kubelet that cannot speak TLS to the gRPC port, whose native gRPC probes are plaintext only.
  const server = createServer((request, response) => {
    if (request.url === "/healthz" || request.url === "/readyz") {
      const ok = request.url === "/healthz" || ready();
      response.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ok\n" : "draining\n");
      return;
    }
    if (request.url !== "/metrics") {
      response.writeHead(404).end();
      return;
    }
    registry.text().then(
      (text) => response.writeHead(200, { "content-type": CONTENT_TYPE }).end(text),
      (error: unknown) => response.writeHead(500).end(String(error)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      resolve();
    });
  });
  server.unref();
  const bound = (server.address() as AddressInfo).port;
  log.info("metrics listening", { address: `${host.includes(":") ? `[${host}]` : host}:${bound}`, port: bound, path: "/metrics" });
  return { metrics: registry, server, port: bound };
}

/** A status code as go-grpc-prometheus labels it (grpc-go's names: InvalidArgument, Canceled). */
export function codeLabel(code: number): string {
  const names: Record<number, string | undefined> = Status;
  const name = names[code];
  if (name === undefined) {
    return "Unknown";
  }
  if (name === "OK") {
    return "OK";
  }
  if (name === "CANCELLED") {
    return "Canceled";
  }
  return name
    .split("_")
    .map((part) => part.charAt(0) + part.slice(1).toLowerCase())
    .join("");
}
