// Prometheus metrics with prom-client, named as in every agentmesh runtime: go-grpc-prometheus's
// gRPC server series (grpc_server_handled_total{grpc_service, grpc_method, grpc_code}, ...) and
// agentmesh_llm_tokens_total{provider, kind}. prom-client is loaded only when --metrics-port asks
// for an endpoint: an agent that exports nothing does not carry it in memory.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { status as Status } from "@grpc/grpc-js";

import type { Logger } from "./log.js";

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export interface Metrics {
  /** An RPC began: its type ("unary" or "server_stream"), service and method. */
  started(type: string, service: string, method: string): void;
  /** An RPC ended with `code` after `seconds`. */
  handled(type: string, service: string, method: string, code: number, seconds: number): void;
  tokens(provider: string, prompt: number, output: number): void;
}

/** The metrics, and an HTTP server for /metrics on host:port (0 picks one); resolves once listening. */
export async function serveMetrics(
  host: string,
  port: number,
  log: Logger,
  ready: () => boolean = () => true,
): Promise<{ metrics: Metrics; server: Server; port: number }> {
  const prom = await import("prom-client");
  const registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry });
  const labels = ["grpc_type", "grpc_service", "grpc_method"] as const;
  const started = new prom.Counter({ name: "grpc_server_started_total", help: "RPCs started on the server.", labelNames: labels, registers: [registry] });
  const handled = new prom.Counter({
    name: "grpc_server_handled_total",
    help: "RPCs completed on the server, by status code.",
    labelNames: [...labels, "grpc_code"],
    registers: [registry],
  });
  const handling = new prom.Histogram({
    name: "grpc_server_handling_seconds",
    help: "Time from an RPC's start to its status, on the server.",
    labelNames: labels,
    buckets: BUCKETS,
    registers: [registry],
  });
  const tokens = new prom.Counter({
    name: "agentmesh_llm_tokens_total",
    help: "Tokens an LLM provider reported, by provider and kind (prompt or output).",
    labelNames: ["provider", "kind"],
    registers: [registry],
  });
  const metrics: Metrics = {
    started: (type, service, method) => {
      started.inc({ grpc_type: type, grpc_service: service, grpc_method: method });
    },
    handled: (type, service, method, code, seconds) => {
      const names = { grpc_type: type, grpc_service: service, grpc_method: method };
      handled.inc({ ...names, grpc_code: codeLabel(code) });
      handling.observe(names, seconds);
    },
    tokens: (provider, prompt, output) => {
      if (prompt > 0) tokens.inc({ provider, kind: "prompt" }, prompt);
      if (output > 0) tokens.inc({ provider, kind: "output" }, output);
    },
  };
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
    registry.metrics().then(
      (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
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
  return { metrics, server, port: bound };
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
