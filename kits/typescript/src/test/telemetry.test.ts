// Tracing configured from OTEL_* only: what is off stays unloaded, what is misspelt is refused.
import assert from "node:assert/strict";
import { test } from "node:test";

import { silent } from "../log.js";
import { tracingFromEnv } from "../telemetry.js";

void test("no exporter, or none, means no tracing at all", async () => {
  assert.equal(await tracingFromEnv("agentmesh-x", silent, {}), undefined);
  assert.equal(await tracingFromEnv("agentmesh-x", silent, { OTEL_TRACES_EXPORTER: "none" }), undefined);
});

void test("an unknown exporter, protocol or sampler is an error naming the variable", async () => {
  await assert.rejects(tracingFromEnv("agentmesh-x", silent, { OTEL_TRACES_EXPORTER: "otlpp" }), /OTEL_TRACES_EXPORTER="otlpp"/);
  await assert.rejects(
    tracingFromEnv("agentmesh-x", silent, { OTEL_TRACES_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }),
    /OTEL_EXPORTER_OTLP_PROTOCOL="http\/json"/,
  );
  await assert.rejects(tracingFromEnv("agentmesh-x", silent, { OTEL_TRACES_EXPORTER: "console", OTEL_TRACES_SAMPLER: "sometimes" }), /OTEL_TRACES_SAMPLER/);
});

void test("the standard samplers are accepted", async () => {
  for (const sampler of ["always_on", "always_off", "traceidratio", "parentbased_traceidratio", "parentbased_always_off"]) {
    const tracing = await tracingFromEnv("agentmesh-x", silent, { OTEL_TRACES_EXPORTER: "console", OTEL_TRACES_SAMPLER: sampler, OTEL_TRACES_SAMPLER_ARG: "0.5" });
    assert.ok(tracing, sampler);
    await tracing.shutdown();
  }
});
