// The Prometheus text the kit writes itself (no prom-client): the gRPC and token series with
// cumulative buckets, escaped labels, the process's figures, and the endpoint's answers.
import assert from "node:assert/strict";
import { request as get } from "node:http";
import { test } from "node:test";

import { codeLabel, CONTENT_TYPE, Registry, serveMetrics } from "../metrics.js";
import { silent } from "../log.js";

/** Each sample line's value by its name and labels, as written. */
function samples(text: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) {
      continue;
    }
    const cut = line.lastIndexOf(" ");
    found.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return found;
}

void test("calls are counted by type, method and code, timed in cumulative buckets", async () => {
  const registry = new Registry();
  registry.started("unary", "agentmesh.v1.AgentService", "Invoke");
  registry.started("unary", "agentmesh.v1.AgentService", "Invoke");
  registry.handled("unary", "agentmesh.v1.AgentService", "Invoke", 0, 0.003);
  registry.handled("unary", "agentmesh.v1.AgentService", "Invoke", 3, 200);
  registry.tokens("offline", 12, 0);
  const text = await registry.text();
  const values = samples(text);
  const labels = 'grpc_type="unary",grpc_service="agentmesh.v1.AgentService",grpc_method="Invoke"';
  assert.equal(values.get(`grpc_server_started_total{${labels}}`), 2);
  assert.equal(values.get(`grpc_server_handled_total{${labels},grpc_code="OK"}`), 1);
  assert.equal(values.get(`grpc_server_handled_total{${labels},grpc_code="InvalidArgument"}`), 1);
  assert.equal(values.get(`grpc_server_handling_seconds_bucket{${labels},le="0.001"}`), 0);
  assert.equal(values.get(`grpc_server_handling_seconds_bucket{${labels},le="0.005"}`), 1);
  assert.equal(values.get(`grpc_server_handling_seconds_bucket{${labels},le="120"}`), 1);
  assert.equal(values.get(`grpc_server_handling_seconds_bucket{${labels},le="+Inf"}`), 2);
  assert.equal(values.get(`grpc_server_handling_seconds_sum{${labels}}`), 200.003);
  assert.equal(values.get(`grpc_server_handling_seconds_count{${labels}}`), 2);
  assert.equal(values.get('agentmesh_llm_tokens_total{provider="offline",kind="prompt"}'), 12);
  assert.ok(!values.has('agentmesh_llm_tokens_total{provider="offline",kind="output"}'), "no zero series for a kind never reported");
  assert.match(text, /^# TYPE grpc_server_handling_seconds histogram$/m);
  assert.match(text, /^# TYPE agentmesh_llm_tokens_total counter$/m);
  for (const name of ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds", "nodejs_heap_size_used_bytes"]) {
    assert.ok((values.get(name) ?? -1) >= 0, name);
  }
});

void test("label values are escaped as the text format asks", async () => {
  const registry = new Registry();
  registry.tokens('a "quoted"\\path\nname', 1, 0);
  assert.ok((await registry.text()).includes('agentmesh_llm_tokens_total{provider="a \\"quoted\\"\\\\path\\nname",kind="prompt"} 1'));
});

void test("status codes are labelled as grpc-go names them", () => {
  assert.deepEqual([0, 1, 3, 4, 16, 99].map(codeLabel), ["OK", "Canceled", "InvalidArgument", "DeadlineExceeded", "Unauthenticated", "Unknown"]);
});

void test("the endpoint serves /metrics in the text format and answers probes", async () => {
  let ready = true;
  const { server, port } = await serveMetrics("127.0.0.1", 0, silent, () => ready);
  const fetch = (path: string): Promise<{ status: number; type: string; body: string }> =>
    new Promise((resolve, reject) => {
      get({ host: "127.0.0.1", port, path }, (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () => {
          resolve({ status: response.statusCode ?? 0, type: String(response.headers["content-type"]), body });
        });
      })
        .on("error", reject)
        .end();
    });
  try {
    const metrics = await fetch("/metrics");
    assert.equal(metrics.status, 200);
    assert.equal(metrics.type, CONTENT_TYPE);
    assert.match(metrics.body, /^process_resident_memory_bytes \d+$/m);
    assert.equal((await fetch("/readyz")).status, 200);
    ready = false;
    assert.equal((await fetch("/readyz")).status, 503);
    assert.equal((await fetch("/healthz")).status, 200);
    assert.equal((await fetch("/other")).status, 404);
  } finally {
    server.close();
  }
});
